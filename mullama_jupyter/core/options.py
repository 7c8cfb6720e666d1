"""Runtime and load-time options, named as Ollama names them, with one validation function.

Precedence is Ollama's: built-in defaults < the model's PARAMETERs < the request's ``options``.
A request ``stop`` replaces the model's ``stop``. Unknown keys are ignored with a log line, as
Ollama does (its Python client still sends retired keys such as ``f16_kv``); a wrong type or an
out-of-range value is a 400 naming the option — a deliberate, safer deviation from Ollama's 500.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import InvalidOption

log = logging.getLogger(__name__)

INT, FLOAT, BOOL, STRINGS = "integer", "float32", "boolean", "array"


@dataclass(frozen=True)
class Spec:
    kind: str
    lo: float | None = None
    hi: float | None = None
    load: bool = False  # changing it needs a new runner (a new llama context)
    help: str = ""


# Bounds are generous but finite: llama.cpp trusts these numbers (a negative n_discard was
# CVE-2026-21869), so absurd values stop here, not in native code.
SPECS: dict[str, Spec] = {
    # load-time
    "num_ctx": Spec(INT, 1, 1 << 22, load=True, help="context window in tokens (capped by the model's training length)"),
    "num_batch": Spec(INT, 1, 1 << 20, load=True, help="prompt-processing batch size"),
    "num_thread": Spec(INT, 0, 1024, load=True, help="CPU threads; 0 means the physical core count"),
    "num_gpu": Spec(INT, -1, 1 << 16, load=True, help="layers to offload to a GPU (GPU builds only; CPU builds ignore it)"),
    "main_gpu": Spec(INT, 0, 1 << 10, load=True, help="GPU for the main computation (GPU builds only)"),
    "use_mmap": Spec(BOOL, load=True, help="memory-map the weights"),
    "use_mlock": Spec(BOOL, load=True, help="lock the weights in RAM (needs a high memlock limit)"),
    "numa": Spec(BOOL, load=True, help="NUMA optimisations (accepted, not used)"),
    # runtime
    "num_keep": Spec(INT, -1, 1 << 22, help="tokens of the prompt kept when the context is shifted (accepted, not used)"),
    "seed": Spec(INT, -(1 << 63), (1 << 64) - 1, help="-1 picks a random seed"),
    "num_predict": Spec(INT, -2, 1 << 22, help="tokens to generate; -1 until done, -2 until the context is full"),
    "top_k": Spec(INT, 0, 1 << 20, help="sample from the k most likely tokens; 0 disables"),
    "top_p": Spec(FLOAT, 0.0, 1.0, help="nucleus sampling: the smallest set of tokens whose probability sums to p"),
    "min_p": Spec(FLOAT, 0.0, 1.0, help="drop tokens less likely than min_p times the most likely one"),
    "typical_p": Spec(FLOAT, 0.0, 1.0, help="locally typical sampling; 1 disables"),
    "repeat_last_n": Spec(INT, -1, 1 << 22, help="tokens looked back for penalties; -1 the whole context"),
    "temperature": Spec(FLOAT, 0.0, 1e4, help="randomness; 0 always picks the most likely token"),
    "repeat_penalty": Spec(FLOAT, 0.0, 1e4, help="penalise tokens seen in the last repeat_last_n; 1 disables"),
    "presence_penalty": Spec(FLOAT, -1e4, 1e4, help="penalise tokens that already appeared"),
    "frequency_penalty": Spec(FLOAT, -1e4, 1e4, help="penalise tokens by how often they appeared"),
    "stop": Spec(STRINGS, help="strings that end generation"),
    "mirostat": Spec(INT, 0, 2, help="Mirostat sampling: 0 off, 1 or 2 the version"),
    "mirostat_tau": Spec(FLOAT, 0.0, 1e4, help="Mirostat target surprise"),
    "mirostat_eta": Spec(FLOAT, 0.0, 1e4, help="Mirostat learning rate"),
}

# Keys the Ollama client may still send; accepted and ignored without a warning.
RETIRED = frozenset(
    {"penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "embedding_only", "tfs_z"}
)

DEFAULTS: dict[str, Any] = {
    "num_ctx": 4096,
    "num_batch": 512,
    "num_thread": 0,
    "use_mmap": True,
    "use_mlock": False,
    "num_gpu": -1,
    "main_gpu": 0,
    "numa": False,
    "num_keep": 4,
    "seed": -1,
    "num_predict": -1,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "temperature": 0.8,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "stop": [],
    "mirostat": 0,
    "mirostat_tau": 5.0,
    "mirostat_eta": 0.1,
}

LOAD_KEYS = tuple(k for k, s in SPECS.items() if s.load)


def _coerce(key: str, spec: Spec, value: Any) -> Any:
    def bad() -> InvalidOption:
        return InvalidOption(key, f'option "{key}" must be of type {spec.kind}')

    if spec.kind == BOOL:
        if not isinstance(value, bool):
            raise bad()
        return value
    if spec.kind == STRINGS:
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise bad()
        return [s for s in value if s]
    # JSON booleans are Python ints; Ollama rejects them for numbers, so do we.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad()
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidOption(key, f'option "{key}" must be a finite number')
    value = int(value) if spec.kind == INT else float(value)
    if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
        raise InvalidOption(key, f'option "{key}" is out of range: {value!r} (allowed {_fmt(spec.lo)}..{_fmt(spec.hi)})')
    return value


def _fmt(x: float | None) -> str:
    return "" if x is None else (str(int(x)) if float(x).is_integer() else str(x))


def validate_options(options: Any, *, where: str = "options") -> dict[str, Any]:
    """Check a request's options map; return the known keys with clean types."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InvalidOption(where, f'"{where}" must be an object')
    clean: dict[str, Any] = {}
    for key, value in options.items():
        spec = SPECS.get(key)
        if spec is None:
            if key not in RETIRED:
                log.warning("ignoring unknown option %r", str(key)[:80])
            continue
        if value is None:
            continue
        clean[key] = _coerce(key, spec, value)
    return clean


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win, key by key (so a request ``stop`` replaces the model's)."""
    out: dict[str, Any] = dict(DEFAULTS)
    for layer in layers:
        out.update({k: v for k, v in layer.items() if v is not None})
    return out


def load_options(effective: Mapping[str, Any]) -> dict[str, Any]:
    """The subset that decides which runner (llama context) can serve a request."""
    return {k: effective[k] for k in LOAD_KEYS if k in effective}

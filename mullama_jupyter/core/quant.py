"""Quantizations: read them from file names, and pick a file from a repository's list.

With no file named, the pick follows ``DEFAULT_ORDER`` (case-insensitive), then the other known
quants from the most to the least useful. A quant *group* (``q4``, ``q8`` — the ``-q8`` alias
suffix) picks the best member of that group. Split GGUFs (``name-00001-of-00003.gguf``) count as one
unit whose parts are all downloaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidRequest

DEFAULT_ORDER = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q8_0", "F16")
# After the documented order: everything else we recognise, best trade-offs first.
FALLBACK_ORDER = ("Q5_K_S", "Q5_0", "Q6_K", "Q4_1", "IQ4_XS", "IQ4_NL", "Q5_1", "Q3_K_L", "Q3_K_M", "Q3_K_S",
                  "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS", "Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS",
                  "IQ1_M", "IQ1_S", "BF16", "F32", "TQ1_0", "TQ2_0", "MXFP4")
GROUPS = {
    "Q2": ("Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS"),
    "Q3": ("Q3_K_M", "Q3_K_S", "Q3_K_L", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS"),
    "Q4": ("Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_NL", "IQ4_XS", "Q4_1"),
    "Q5": ("Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1"),
    "Q6": ("Q6_K",),
    "Q8": ("Q8_0",),
    "F16": ("F16",),
    "BF16": ("BF16",),
    "F32": ("F32",),
}
KNOWN = DEFAULT_ORDER + FALLBACK_ORDER

_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|FP16|FP32)(?![A-Za-z0-9])", re.IGNORECASE
)
_SPLIT_RE = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
QUANT_SYNTAX = re.compile(r"^[A-Za-z0-9_]{1,16}$")


def quant_of(filename: str) -> str | None:
    """The quantization a GGUF file name announces (``Model.Q4_K_M.gguf`` → ``Q4_K_M``), if any."""
    stem = filename.rsplit("/", 1)[-1]
    stem = stem[: -len(".gguf")] if stem.lower().endswith(".gguf") else stem
    split = _SPLIT_RE.match(stem + ".gguf")
    if split:
        stem = split["prefix"]
    found = _QUANT_RE.findall(stem.replace(".", "-"))
    if not found:
        return None
    q = found[-1].upper()
    return {"FP16": "F16", "FP32": "F32"}.get(q, q)


@dataclass(frozen=True)
class Unit:
    """One downloadable model: a single file or the ordered parts of a split GGUF."""

    parts: tuple[str, ...]

    @property
    def name(self) -> str:
        m = _SPLIT_RE.match(self.parts[0].rsplit("/", 1)[-1])
        return (m["prefix"] + ".gguf") if m else self.parts[0].rsplit("/", 1)[-1]

    @property
    def quant(self) -> str | None:
        return quant_of(self.name)


def units(files: list[str]) -> list[Unit]:
    """GGUF model files of a repository listing, split parts grouped; projectors left out."""
    singles: list[Unit] = []
    splits: dict[str, dict[int, str]] = {}
    counts: dict[str, int] = {}
    for f in files:
        base = f.rsplit("/", 1)[-1]
        if not base.lower().endswith(".gguf") or "mmproj" in base.lower():
            continue
        m = _SPLIT_RE.match(base)
        if m:
            key = f[: len(f) - len(base)] + m["prefix"]
            splits.setdefault(key, {})[int(m["no"])] = f
            counts[key] = int(m["count"])
        else:
            singles.append(Unit((f,)))
    for key, parts in splits.items():
        if sorted(parts) == list(range(1, counts[key] + 1)):  # an incomplete split is not usable
            singles.append(Unit(tuple(parts[i] for i in sorted(parts))))
    return singles


def choose(files: list[str], quant: str | None = None, *, repo: str = "") -> Unit:
    """The unit to download: the quant (or quant group) asked for, else by ``DEFAULT_ORDER``."""
    candidates = units(files)
    if not candidates:
        raise InvalidRequest(f"no GGUF model file in {repo or 'the repository'}",
                             hint="GGUF repositories usually end in -GGUF")
    by_quant: dict[str, list[Unit]] = {}
    for u in candidates:
        by_quant.setdefault((u.quant or "").upper(), []).append(u)
    available = sorted(q for q in by_quant if q)
    if quant:
        wanted = quant.upper()
        order = GROUPS.get(wanted, (wanted,))
        for q in order:
            if q in by_quant:
                return sorted(by_quant[q], key=lambda u: u.name)[0]
        raise InvalidRequest(f"{repo or 'the repository'} has no {wanted} file; available: {', '.join(available) or 'none'}",
                             hint=f"pick one, e.g. hf:{repo}:{available[0]}" if available and repo else None)
    for q in KNOWN:
        if q in by_quant:
            return sorted(by_quant[q], key=lambda u: u.name)[0]
    return sorted(candidates, key=lambda u: u.name)[0]

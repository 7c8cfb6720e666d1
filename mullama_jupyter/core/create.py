"""Creating a model from Ollama's create request: a base model or uploaded GGUF blobs, plus layers.

One code path for ``POST /api/create``, ``mullama create -f Modelfile`` and ``%%mullama create``: the
Modelfile is parsed where it is written (the CLI or the kernel), local files are uploaded as blobs,
and the server only ever sees names and digests (it never opens a path a client chose).

Merging over a base follows Ollama: the base's parameters stay unless overridden, TEMPLATE and
SYSTEM replace, LICENSE texts are appended, MESSAGEs replace only when some are given. Everything is
validated before the manifest is written, so a bad request leaves no half-created model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import InvalidRequest, MullamaError
from .gguf import read_gguf
from .names import ModelName, parse_digest
from .native import Progress
from .options import SPECS, validate_options
from .store import MEDIA, Layer, ModelRecord, Store

Emit = Callable[[Progress], None]
# Pull a base model that is not in the store yet (an alias or hf: spec); returns its record.
PullFn = Callable[[str, Emit], ModelRecord]

SETTINGS = {
    "gpu_layers": int, "flash_attention": bool, "digest": str, "vision_projector": str,
    "thinking": dict, "toolformat": dict, "capabilities": dict, "author": str,
}
TOOLFORMAT_KEYS = {"style", "call_start", "call_end", "result_start", "result_end"}
THINKING_KEYS = {"start", "end", "enabled"}
CAPABILITY_KEYS = {"json", "tools", "thinking", "vision"}


@dataclass
class CreateRequest:
    model: str
    from_: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # file name -> digest of an uploaded blob
    adapters: dict[str, str] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    license: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    quantize: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # Mullama's directives ("mullama" in the JSON)
    projector: dict[str, str] = field(default_factory=dict)  # file name -> digest


def validate_settings(raw: Any) -> dict[str, Any]:
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest('"mullama" must be an object of Modelfile directives')
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = SETTINGS.get(key)
        if kind is None:
            raise InvalidRequest(f'unknown directive "{key}"', hint=f"known: {', '.join(sorted(SETTINGS))}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)) or not isinstance(value, kind):
            raise InvalidRequest(f'directive "{key}" must be of type {kind.__name__}')
        out[key] = value
    for key, allowed in (("thinking", THINKING_KEYS), ("toolformat", TOOLFORMAT_KEYS), ("capabilities", CAPABILITY_KEYS)):
        extra = set(out.get(key, {})) - allowed
        if extra:
            raise InvalidRequest(f'unknown {key} key(s): {", ".join(sorted(extra))}')
    if "digest" in out:
        out["digest"] = parse_digest(out["digest"] if ":" in out["digest"] or "-" in out["digest"]
                                     else "sha256:" + out["digest"])
    return out


def _relative(name: str) -> str:
    if not name or name.startswith("/") or ".." in name.replace("\\", "/").split("/"):
        raise InvalidRequest("file path must be relative")
    return name


def _blob_layer(store: Store, digest: str, kind: str) -> Layer:
    d = parse_digest(digest) if digest else None
    if d is None:
        raise InvalidRequest("invalid digest format")
    store.ensure_blob(d)
    return Layer(MEDIA[kind], d, store.blob_path(d).stat().st_size)


def create(store: Store, req: CreateRequest, emit: Emit, pull: PullFn | None = None,
           validate_template: Callable[[str], Any] | None = None) -> ModelRecord:
    """Validate everything, then write the model in one commit. Runs in a worker thread."""
    name = ModelName.parse(req.model)
    if req.quantize:
        raise InvalidRequest("quantization is not supported by this server",
                             hint="pull a GGUF of the quantization you want (e.g. hf:owner/repo:Q4_K_M)")
    settings = validate_settings(req.settings)
    params = _typed_params(req.parameters)
    if req.template is not None and validate_template is not None:
        validate_template(req.template)  # 400 "template error: …" at create time, not at the first chat

    base: ModelRecord | None = None
    if req.files:
        model = _model_from_files(store, req.files, emit)
        if req.from_:
            raise InvalidRequest("give either 'from' or 'files', not both")
    elif req.from_:
        base = _base(store, req.from_, emit, pull)
        model = base.layers_of("model")
        for layer in base.layers:
            emit(Progress(f"using existing layer {layer.digest}"))
    else:
        raise InvalidRequest("neither 'from' or 'files' was specified")

    pin = settings.get("digest") or (base.settings.get("digest") if base else None)
    if pin and model[0].digest != pin:
        raise MullamaError(f"digest mismatch: expected {pin}, got {model[0].digest}", hint="check DIGEST in the Modelfile")
    # GGUF metadata must parse before we commit anything (a damaged upload fails here).
    read_gguf(store.blob_file(model[0].digest))

    adapters = ([*base.layers_of("adapter")] if base else []) + [
        _blob_layer(store, d, "adapter") for _, d in sorted(req.adapters.items(), key=lambda kv: _relative(kv[0]))]
    for layer in adapters:
        _check_adapter(store, layer.digest, model[0].digest)
    projector = None
    for fname, d in req.projector.items():
        _relative(fname)
        projector = _blob_layer(store, d, "projector")
    if projector is None and base is not None and base.layers_of("projector"):
        projector = base.layers_of("projector")[0]

    merged_params = {**(base.params if base else {}), **params}
    merged_settings = {**(base.settings if base else {}), **settings}
    for kind, text in (("template", req.template), ("system", req.system)):
        if text:
            emit(Progress(f"creating new layer sha256:{hashlib.sha256(text.encode()).hexdigest()}"))
    emit(Progress("writing manifest"))
    record = store.commit(
        name,
        model=model if len(model) > 1 else model[0],
        template=req.template if req.template is not None else (base.template if base else None),
        system=req.system if req.system is not None else (base.system if base else None),
        params=merged_params or None,
        messages=req.messages or (base.messages if base else None),
        license=[*(base.license if base else []), *req.license] or None,
        source={"kind": "create", "from": req.from_} if req.from_ else {"kind": "create", "files": sorted(req.files)},
        adapters=adapters or None,
        projector=projector,
        settings=merged_settings or None,
    )
    emit(Progress("success"))
    return record


def _check_adapter(store: Store, adapter: str, weights: str) -> None:
    """A LoRA must fit its base: llama.cpp crashes (in the runner) on one that does not, so say why here."""
    info = read_gguf(store.blob_file(adapter))
    if info.metadata.get("general.type") != "adapter" or info.metadata.get("adapter.type") != "lora":
        raise InvalidRequest("ADAPTER is not a LoRA adapter GGUF (general.type must be 'adapter')",
                             hint="convert it with llama.cpp's convert_lora_to_gguf.py")
    base = {t.name: t.shape for t in read_gguf(store.blob_file(weights)).tensors}
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for t in info.tensors:
        target, _, part = t.name.rpartition(".")
        if part in ("lora_a", "lora_b"):
            pairs.setdefault(target, {})[part] = t.shape
    if not pairs:
        raise InvalidRequest("ADAPTER has no lora_a/lora_b tensors")
    for target, ab in sorted(pairs.items()):
        a, b = ab.get("lora_a"), ab.get("lora_b")
        shape = base.get(target)
        if shape is None or a is None or b is None:
            raise InvalidRequest(f"ADAPTER does not fit this model: {target} has no counterpart")
        if len(a) < 2 or len(b) < 2 or a[0] != shape[0] or b[1] != shape[1] or a[1] != b[0]:
            raise InvalidRequest(f"ADAPTER does not fit this model: {target} is {list(shape)}, "
                                 f"the adapter has lora_a {list(a)} and lora_b {list(b)}",
                                 hint="use an adapter trained for this base model")


def _typed_params(raw: dict[str, Any]) -> dict[str, Any]:
    """JSON parameters as Ollama stores them, checked like request options (400 naming the option)."""
    if not isinstance(raw, dict):
        raise InvalidRequest('"parameters" must be an object')
    unknown = [k for k in raw if k not in SPECS]
    if unknown:
        raise InvalidRequest(f"unknown parameter '{unknown[0]}'")
    params = {k: ([v] if k == "stop" and isinstance(v, str) else v) for k, v in raw.items()}
    validate_options(params, where="parameters")
    return params


def _model_from_files(store: Store, files: dict[str, str], emit: Emit) -> list[Layer]:
    ggufs = sorted((_relative(f), d) for f, d in files.items())
    if not all(f.lower().endswith(".gguf") for f, _ in ggufs):
        raise InvalidRequest("only GGUF files can be imported here (safetensors conversion is not supported)",
                             hint="convert with llama.cpp's convert_hf_to_gguf.py, then create from the .gguf")
    emit(Progress("parsing GGUF"))
    layers = [_blob_layer(store, d, "model") for _, d in ggufs]
    for layer in layers:
        emit(Progress(f"using existing layer {layer.digest}"))
    return layers


def _base(store: Store, ref: str, emit: Emit, pull: PullFn | None) -> ModelRecord:
    try:
        return store.load(ref)
    except MullamaError as e:
        if pull is None or e.status != 404:
            raise InvalidRequest("FROM must be a model name, an alias or hf: spec, or an uploaded GGUF",
                                 hint=f"pull it first: mullama pull {ref}") from None
    return pull(ref, emit)


def modelfile_request(mf: Any, name: str, base_dir: Path, upload: Callable[[Path], str]) -> dict[str, Any]:
    """A parsed Modelfile as Ollama's create request. Runs where the Modelfile is (the CLI, a kernel):
    local files named by FROM, ADAPTER or VISION_PROJECTOR are uploaded with ``upload`` (which
    returns their digest), so the server receives only names and digests."""
    from .modelfile import format_params

    body: dict[str, Any] = {"model": name}
    weights = _local_file(mf.from_, base_dir)
    if weights is not None:
        body["files"] = {weights.name: upload(weights)}
    else:
        body["from"] = mf.from_
    adapters = {}
    for ref in mf.adapters:
        path = _local_file(ref, base_dir)
        if path is None:
            raise InvalidRequest(f"ADAPTER {ref}: no such file", hint="give the path of a LoRA .gguf, relative to the Modelfile")
        adapters[path.name] = upload(path)
    if adapters:
        body["adapters"] = adapters
    for key in ("template", "system"):
        value = getattr(mf, key)
        if value is not None:
            body[key] = value
    if mf.license:
        body["license"] = list(mf.license)
    if mf.parameters:
        body["parameters"] = format_params(mf.parameters)
    if mf.messages:
        body["messages"] = list(mf.messages)
    settings = dict(mf.settings)
    settings.pop("vision_projector", None)  # a local file: uploaded below, sent as a digest
    if mf.vision_projector:
        path = _local_file(mf.vision_projector, base_dir)
        if path is None:
            raise InvalidRequest(f"VISION_PROJECTOR {mf.vision_projector}: no such file")
        settings["projector"] = {path.name: upload(path)}
    if settings:
        body["mullama"] = settings
    return body


def _local_file(ref: str, base_dir: Path) -> Path | None:
    """A FROM/ADAPTER value that names an existing local file (relative to the Modelfile, ~ expanded)."""
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        raise InvalidRequest(f"{ref} is a directory: only GGUF files can be imported",
                             hint="convert safetensors with llama.cpp's convert_hf_to_gguf.py first")
    return path if path.is_file() else None

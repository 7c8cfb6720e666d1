"""Build GGUF files for tests: valid ones with :func:`write_gguf` / :func:`tiny_llama_gguf`, and
malformed ones from the byte-level pieces (:func:`header_bytes`, :func:`kv_bytes`,
:func:`tensor_info_bytes`, :func:`assemble`, :func:`patch`).

Pure ``struct`` and deliberately independent of ``mullama_jupyter.core.gguf`` (its own type
ids and size table), so the reader is checked against a second implementation of the format
rather than against itself.

Files written here are metadata plus zero-filled tensor data: they parse, but they are not
weights llama.cpp could run.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

# GGUF value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

_FORMATS = {
    UINT8: "<B",
    INT8: "<b",
    UINT16: "<H",
    INT16: "<h",
    UINT32: "<I",
    INT32: "<i",
    FLOAT32: "<f",
    BOOL: "<?",
    UINT64: "<Q",
    INT64: "<q",
    FLOAT64: "<d",
}

# ggml tensor types used by tests: id -> (elements per block, bytes per block)
F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K, BF16 = 0, 1, 2, 3, 8, 12, 14, 30
GGML_SIZES = {
    F32: (1, 4),
    F16: (1, 2),
    Q4_0: (32, 18),
    Q4_1: (32, 20),
    Q8_0: (32, 34),
    Q4_K: (256, 144),
    Q6_K: (256, 210),
    BF16: (1, 2),
}


class Typed(NamedTuple):
    """A value with an explicit GGUF type, for use as a value in a ``kv`` dict.

    ``vtype`` is a scalar type id, ``ARRAY`` (element type inferred) or ``(ARRAY, elem_vtype)``
    where ``elem_vtype`` may itself be ``(ARRAY, ...)`` for nested arrays.
    """

    vtype: object
    value: object


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def string_bytes(s: str | bytes, length: int | None = None) -> bytes:
    """A GGUF string; ``length`` overrides the declared length (to lie about it)."""
    data = s.encode("utf-8") if isinstance(s, str) else s
    return u64(len(data) if length is None else length) + data


def auto_type(value: object) -> object:
    """bool -> BOOL, int -> UINT32 when 0 <= v < 2**32 else INT64, float -> FLOAT32,
    str/bytes -> STRING, list/tuple -> ARRAY (elements typed from all of them)."""
    if isinstance(value, Typed):
        return value.vtype
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return UINT32 if 0 <= value < 2**32 else INT64
    if isinstance(value, float):
        return FLOAT32
    if isinstance(value, (str, bytes)):
        return STRING
    if isinstance(value, (list, tuple)):
        return (ARRAY, _element_type(value))
    raise TypeError(f"cannot infer a GGUF type for {value!r}")


def _element_type(values) -> object:
    if not values:
        return UINT8
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return UINT32 if all(0 <= v < 2**32 for v in values) else INT64
    first = auto_type(values[0])
    if isinstance(first, tuple):  # nested: each inner array declares its own element type
        return ARRAY
    return first


def type_id(vtype: object) -> int:
    return vtype[0] if isinstance(vtype, tuple) else vtype


def value_bytes(vtype: object, value: object) -> bytes:
    """The encoding of ``value`` as ``vtype`` (without the leading type id)."""
    if isinstance(value, Typed):
        vtype, value = value
    if vtype == ARRAY:
        vtype = (ARRAY, _element_type(value))
    if isinstance(vtype, tuple):
        elem = vtype[1]
        parts = []
        for v in value:
            inner = auto_type(v) if elem == ARRAY else elem
            parts.append(value_bytes(inner, v))
        return u32(type_id(elem)) + u64(len(value)) + b"".join(parts)
    if vtype == STRING:
        return string_bytes(value)
    return struct.pack(_FORMATS[vtype], value)


def kv_bytes(key: str | bytes, value: object, vtype: object = None) -> bytes:
    """One metadata entry: key string, type id, value."""
    if vtype is None:
        vtype = auto_type(value)
    if isinstance(value, Typed):
        value = value.value
    return string_bytes(key) + u32(type_id(vtype)) + value_bytes(vtype, value)


def header_bytes(n_tensors: int, n_kv: int, version: int = 3, magic: bytes = b"GGUF") -> bytes:
    return magic + u32(version) + u64(n_tensors) + u64(n_kv)


def tensor_info_bytes(
    name: str | bytes, shape, ggml_type: int, offset: int, n_dims: int | None = None
) -> bytes:
    """A tensor info; ``n_dims`` overrides the declared dimension count."""
    dims = b"".join(u64(d) for d in shape)
    return string_bytes(name) + u32(len(shape) if n_dims is None else n_dims) + dims + u32(ggml_type) + u64(offset)


def tensor_nbytes(shape, ggml_type: int) -> int:
    block, size = GGML_SIZES[ggml_type]
    n = 1
    for d in shape:
        n *= d
    return n // block * size


def pad_to(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def assemble(
    kv_parts: list[bytes],
    ti_parts: list[bytes] = (),
    *,
    n_kv: int | None = None,
    n_tensors: int | None = None,
    alignment: int = 32,
    data: bytes = b"",
    version: int = 3,
) -> bytes:
    """Header + raw kv entries + raw tensor infos, zero-padded to ``alignment``, then ``data``.
    Counts default to the number of parts; pass them to lie."""
    head = header_bytes(
        len(ti_parts) if n_tensors is None else n_tensors,
        len(kv_parts) if n_kv is None else n_kv,
        version,
    )
    body = head + b"".join(kv_parts) + b"".join(ti_parts)
    return body + bytes(pad_to(len(body), alignment) - len(body)) + data


def _kv_entries(kv) -> list[bytes]:
    if kv is None:
        return []
    if isinstance(kv, dict):
        return [kv_bytes(k, v) for k, v in kv.items()]
    return [kv_bytes(k, v, t) for k, t, v in kv]


def build_gguf(kv=None, tensors=(), alignment: int = 32, version: int = 3) -> bytes:
    """The bytes of a valid GGUF file.

    ``kv``: a dict of key -> value (auto-typed, or :class:`Typed`) or a list of
    ``(key, vtype, value)`` with ``vtype`` None for auto. ``general.alignment`` is added when
    ``alignment`` is not the default and the kv does not set it.
    ``tensors``: ``(name, shape, ggml_type)`` tuples, with an optional 4th item giving the
    byte size for types missing from :data:`GGML_SIZES`. Data is zero-filled and aligned.
    """
    entries = _kv_entries(kv)
    keys = list(kv) if isinstance(kv, dict) else [k for k, _, _ in (kv or [])]
    if alignment != 32 and "general.alignment" not in keys:
        entries.append(kv_bytes("general.alignment", alignment, UINT32))
    infos, offset = [], 0
    for t in tensors:
        name, shape, ggml_type = t[:3]
        n_bytes = t[3] if len(t) > 3 else tensor_nbytes(shape, ggml_type)
        infos.append(tensor_info_bytes(name, shape, ggml_type, offset))
        offset = pad_to(offset + n_bytes, alignment)
    return assemble(entries, infos, alignment=alignment, data=bytes(offset), version=version)


def write_gguf(path, kv=None, tensors=(), alignment: int = 32, version: int = 3) -> Path:
    """Write :func:`build_gguf` to ``path`` and return it as a Path."""
    path = Path(path)
    path.write_bytes(build_gguf(kv, tensors, alignment, version))
    return path


def patch(path, offset: int, data: bytes) -> None:
    """Overwrite bytes of an existing file in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


TINY_LLAMA_TENSORS = [
    ("token_embd.weight", (64, 4), Q4_1),
    ("output_norm.weight", (64,), F32),
    ("blk.0.attn_q.weight", (64, 64), Q4_1),
]
TINY_LLAMA_CHAT_TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"


def tiny_llama_kv() -> dict:
    return {
        "general.architecture": "llama",
        "general.name": "tiny-llama",
        "general.file_type": 3,  # Q4_1
        "llama.context_length": 2048,
        "llama.embedding_length": 64,
        "llama.block_count": 1,
        "llama.feed_forward_length": 128,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 4,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.rope.freq_base": 10000.0,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": ["<s>", "</s>", "a", "b"],
        "tokenizer.ggml.scores": [0.0, 0.0, -1.0, -2.0],
        "tokenizer.ggml.token_type": Typed((ARRAY, INT32), [3, 3, 1, 1]),
        "tokenizer.ggml.bos_token_id": 0,
        "tokenizer.ggml.eos_token_id": 1,
        "tokenizer.chat_template": TINY_LLAMA_CHAT_TEMPLATE,
    }


def tiny_llama_gguf(path, *, tensors=None, alignment: int = 32, **overrides) -> Path:
    """A small, plausible llama-architecture GGUF (4-token vocabulary, three tiny tensors).

    ``overrides`` replace kv entries (dotted keys go through ``**{"llama.context_length": 4096}``);
    a value of None removes the key. ``tensors`` replaces the tensor list.
    """
    kv = tiny_llama_kv()
    for key, value in overrides.items():
        if value is None:
            kv.pop(key, None)
        else:
            kv[key] = value
    return write_gguf(path, kv, TINY_LLAMA_TENSORS if tensors is None else tensors, alignment)


def tiny_llama_bytes(**overrides) -> bytes:
    kv = tiny_llama_kv()
    kv.update(overrides)
    return build_gguf(kv, TINY_LLAMA_TENSORS)


def sparse_file(path, header: bytes, size: int) -> Path:
    """``header`` followed by a hole up to ``size`` bytes (cheap on most filesystems)."""
    path = Path(path)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(size)
    return path


def lora_adapter_gguf(path, targets, *, n_in: int, n_out: int, rank: int = 4, alpha: float = 16.0,
                      scale: float = 0.05, seed: int = 0, arch: str = "llama") -> Path:
    """A LoRA adapter in llama.cpp's GGUF form: for each target weight ``blk.N.attn_q.weight``,
    ``.lora_a`` (ne [n_in, rank]) and ``.lora_b`` (ne [rank, n_out]), F32, filled with small random
    values so the adapter really changes the model's output."""
    import random
    import struct as _struct

    rng = random.Random(seed)
    kv = {"general.type": "adapter", "general.architecture": arch, "adapter.type": "lora",
          "adapter.lora.alpha": Typed(FLOAT32, alpha)}
    tensors, blobs = [], []
    for target in targets:
        for suffix, shape in ((".lora_a", (n_in, rank)), (".lora_b", (rank, n_out))):
            n = shape[0] * shape[1]
            tensors.append((target + suffix, shape, F32))
            blobs.append(_struct.pack(f"<{n}f", *(rng.uniform(-scale, scale) for _ in range(n))))
    entries = _kv_entries(kv)
    infos, data, offset = [], b"", 0
    for (name, shape, ggml_type), blob in zip(tensors, blobs):
        infos.append(tensor_info_bytes(name, shape, ggml_type, offset))
        padded = pad_to(len(blob), 32)
        data += blob + bytes(padded - len(blob))
        offset += padded
    path = Path(path)
    path.write_bytes(assemble(entries, infos, data=data))
    return path

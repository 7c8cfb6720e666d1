"""Read a GGUF file's header (metadata and tensor table) in pure Python, bounded and streaming.

Why this exists: the server needs model metadata for ``/api/tags``, ``/api/show`` and chat
templates without loading llama.cpp into the server process, and every GGUF is hostile input.
Other readers have been taken down by tiny files: Ollama crashed on a 4-byte file
(CVE-2024-39720), allocated without bound on a declared length (CVE-2025-0315), and
``gguf.GGUFReader`` hangs on a ~50-byte file declaring an array of 2**63 elements. So this
reader:

* accepts only regular files (a character device or FIFO would never end or never answer);
* reads sequentially through a small buffer, never maps the file and never reads tensor data;
* checks every declared count and length against a fixed limit and against the bytes left in
  the file *before* allocating or looping, so a hostile count costs O(1) to reject;
* skips large arrays without building Python objects (only small arrays and the ones asked
  for are kept);
* raises :class:`~mullama_jupyter.core.errors.InvalidGGUF` for every malformed-file condition.
  Reasons that start with ``"truncated file"`` mean the file ends before what it declares
  (a cut-short download looks like this); the others mean the content itself is invalid.
  OS errors such as a missing file propagate unchanged: they are not malformed files.

Format: little-endian GGUF v2 and v3 (v1 predates 64-bit counts and is rejected, big-endian
files are detected and rejected). See ggml's ``docs/gguf.md``.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import BinaryIO

from mullama_jupyter.core.errors import InvalidGGUF

__all__ = [
    "DEFAULT_ALIGNMENT",
    "FILE_TYPES",
    "GGML_TYPES",
    "MAGIC",
    "MAX_ARRAY",
    "MAX_DIMS",
    "MAX_KV",
    "MAX_NESTING",
    "MAX_STRING",
    "MAX_TENSORS",
    "SHOW_ARRAY_LIMIT",
    "GGUFInfo",
    "TensorInfo",
    "ValueType",
    "human_number",
    "read_gguf",
    "sniff",
]

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# Limits; each can be overridden per call with the lower-case keyword (max_string=...).
MAX_STRING = 16 * 1024 * 1024  # bytes in one key, string value or tensor name
MAX_ARRAY = 64 * 1024 * 1024  # elements in one array (the largest real vocabularies are ~260k)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_TENSORS = 1 << 20
MAX_KV = 1 << 20
MAX_NESTING = 8  # arrays of arrays: bounds recursion so a deep nest cannot blow the stack

# Ollama's /api/show replaces arrays longer than this with [] unless verbose.
SHOW_ARRAY_LIMIT = 5

_INT64_MAX = (1 << 63) - 1
_CHUNK = 1 << 20  # read-ahead; large enough that a tokenizer's strings are parsed from memory
_KEY_SHOWN = 80  # how much of a hostile key or name an error message repeats


class ValueType(IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_FIXED_FORMATS = {
    ValueType.UINT8: "B",
    ValueType.INT8: "b",
    ValueType.UINT16: "H",
    ValueType.INT16: "h",
    ValueType.UINT32: "I",
    ValueType.INT32: "i",
    ValueType.FLOAT32: "f",
    ValueType.BOOL: "?",
    ValueType.UINT64: "Q",
    ValueType.INT64: "q",
    ValueType.FLOAT64: "d",
}
_FIXED = {int(t): struct.Struct("<" + f) for t, f in _FIXED_FORMATS.items()}
_STRING = int(ValueType.STRING)
_ARRAY = int(ValueType.ARRAY)
_FLOAT32 = int(ValueType.FLOAT32)

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F32 = struct.Struct("<f")

# Smallest possible encodings, used to reject counts that cannot fit in the bytes left.
_MIN_KV = 8 + 4 + 1  # empty key, type, one-byte value
_MIN_TENSOR_INFO = 8 + 4 + 4 + 8  # empty name, n_dims = 0, type, offset
_MIN_ARRAY_HEADER = 4 + 8  # element type, count

# ggml_type id -> (name, elements per block, bytes per block), from ggml.c's type_traits.
# Ids 4, 5 (Q4_2, Q4_3), 31-33 (Q4_0_4_4 ...) and 36-38 (IQ4_NL_4_4 ...) were removed upstream.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

# general.file_type (llama.cpp's llama_ftype) -> the name Ollama reports as quantization_level.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4",
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is the innermost (contiguous) dimension
    ggml_type: int
    offset: int  # relative to GGUFInfo.data_offset
    n_bytes: int

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.ggml_type][0]


@dataclass(frozen=True)
class GGUFInfo:
    path: str
    version: int
    metadata: dict[str, object]  # every kv that was read; large arrays are skipped (see below)
    array_lengths: dict[str, int]  # the length of every array kv, including skipped ones
    tensors: tuple[TensorInfo, ...]
    data_offset: int
    file_size: int

    def _int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        # bool is an int subclass; a BOOL where a count belongs is not a count
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _str(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    @property
    def architecture(self) -> str:
        return self._str("general.architecture") or ""

    @property
    def name(self) -> str:
        return self._str("general.name") or ""

    @property
    def context_length(self) -> int | None:
        return self._int(f"{self.architecture}.context_length") if self.architecture else None

    @property
    def embedding_length(self) -> int | None:
        return self._int(f"{self.architecture}.embedding_length") if self.architecture else None

    @property
    def pooling_type(self) -> int | None:
        return self._int(f"{self.architecture}.pooling_type") if self.architecture else None

    @property
    def parameter_count(self) -> int:
        declared = self._int("general.parameter_count")
        if declared is not None:
            return declared
        return sum(t.n_elements for t in self.tensors)

    @property
    def parameter_size(self) -> str:
        """``parameter_count`` the way Ollama prints it; see :func:`human_number`."""
        return human_number(self.parameter_count)

    @property
    def file_type(self) -> int | None:
        return self._int("general.file_type")

    @property
    def quantization_level(self) -> str:
        """The name of ``general.file_type``; without one, the tensor type holding the most
        elements (weights outnumber the small F32 norms, so this names the quantization)."""
        file_type = self.file_type
        if file_type is not None:
            return FILE_TYPES.get(file_type, "unknown")
        if "general.file_type" in self.metadata or not self.tensors:
            return "unknown"
        weight: Counter[int] = Counter()
        for t in self.tensors:
            weight[t.ggml_type] += t.n_elements
        return GGML_TYPES[weight.most_common(1)[0][0]][0]

    @property
    def chat_template(self) -> str | None:
        return self._str("tokenizer.chat_template")

    def _token(self, id_key: str) -> str | None:
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        token_id = self._int(id_key)
        if not isinstance(tokens, list) or token_id is None or not 0 <= token_id < len(tokens):
            return None
        token = tokens[token_id]
        return token if isinstance(token, str) else None

    @property
    def bos_token(self) -> str | None:
        return self._token("tokenizer.ggml.bos_token_id")

    @property
    def eos_token(self) -> str | None:
        return self._token("tokenizer.ggml.eos_token_id")

    def model_info(self, verbose: bool = False) -> dict:
        """The ``model_info`` object of Ollama's ``/api/show``: every kv, keys sorted (as Go's
        JSON encoder sorts map keys). Arrays longer than :data:`SHOW_ARRAY_LIMIT` become ``[]``
        unless ``verbose``; an array that was skipped while reading is ``[]`` either way.
        ``general.parameter_count`` is added when the file does not declare it."""
        info: dict[str, object] = {}
        for key in sorted(self.metadata.keys() | self.array_lengths.keys()):
            if key in self.array_lengths:
                value = self.metadata.get(key)
                shown = value is not None and (verbose or self.array_lengths[key] <= SHOW_ARRAY_LIMIT)
                info[key] = _copy_list(value) if shown else []
            else:
                info[key] = self.metadata[key]
        info.setdefault("general.parameter_count", self.parameter_count)
        return dict(sorted(info.items()))


def _copy_list(value: object) -> object:
    # callers may edit what they get without changing the cached GGUFInfo
    return [_copy_list(v) for v in value] if isinstance(value, list) else value


def human_number(n: int) -> str:
    """Ollama's ``format.HumanNumber``: decimal units T/B/M/K; a whole quotient prints without
    decimals ("3B", "135M"); otherwise T and B get one decimal ("8.0B" for 8.03e9, "3.2B"),
    M gets two ("134.52M" for 134,515,008) and K none ("4K"). Below 1000 the plain number."""
    for unit, scale, decimals in (("T", 10**12, 1), ("B", 10**9, 1), ("M", 10**6, 2), ("K", 10**3, 0)):
        if n >= scale:
            value = n / scale
            if value == math.floor(value):
                return f"{value:.0f}{unit}"
            return f"{value:.{decimals}f}{unit}"
    return str(n)


def _f32(value: float) -> float:
    """The shortest decimal that is the same float32, so 1e-5 stored as FLOAT32 reads back as
    1e-05 and not 9.999999747378752e-06 (matching what Ollama's Go JSON prints)."""
    if not math.isfinite(value):
        return value
    packed = _F32.pack(value)
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if _F32.pack(short) == packed:
            return short
    return value  # unreachable: 9 significant digits always round-trip a float32


def _shown(text: str) -> str:
    return text if len(text) <= _KEY_SHOWN else text[:_KEY_SHOWN] + "..."


@dataclass(frozen=True)
class _Limits:
    max_string: int = MAX_STRING
    max_array: int = MAX_ARRAY
    max_dims: int = MAX_DIMS
    max_tensors: int = MAX_TENSORS
    max_kv: int = MAX_KV
    max_nesting: int = MAX_NESTING


class _Reader:
    """Sequential little-endian reads over a file of known size.

    Keeps its own read-ahead buffer so that the many small fields of a header are unpacked
    from memory, and never holds more than one chunk plus the item being read. Every read is
    checked against the bytes left in the file first, so nothing is allocated for a length the
    file cannot back. The buffer never extends past ``size``, so a read served from the buffer
    needs no further check.
    """

    def __init__(self, f: BinaryIO, size: int):
        self._f = f
        self.size = size
        self._buf = b""
        self._i = 0  # read position within _buf
        self._base = 0  # file offset of _buf[0]; the file's own position is _base + len(_buf)

    @property
    def pos(self) -> int:
        return self._base + self._i

    @property
    def remaining(self) -> int:
        return self.size - self._base - self._i

    def need(self, n: int, what: str) -> None:
        if n > self.remaining:
            raise InvalidGGUF(f"truncated file: truncated {what}")

    def _fill(self, n: int, what: str) -> None:
        """Make at least ``n`` unread bytes available in the buffer."""
        self.need(n, what)
        tail = self._buf[self._i :]
        end = self._base + len(self._buf)
        want = min(max(n - len(tail), _CHUNK), self.size - end)
        data = self._f.read(want)
        while len(tail) + len(data) < n:  # an unbuffered read may legally return less
            more = self._f.read(want - len(data))
            if not more:  # the file shrank since it was measured
                raise InvalidGGUF(f"truncated file: truncated {what}")
            data += more
        self._buf = tail + data
        self._base += self._i
        self._i = 0

    def read(self, n: int, what: str) -> bytes:
        i = self._i
        if i + n > len(self._buf):
            self._fill(n, what)
            i = 0
        self._i = i + n
        return self._buf[i : i + n]

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        j = self._i + n
        if j <= len(self._buf):
            self._i = j
            return
        # one seek instead of reading the skipped bytes
        target = self._base + j
        self._f.seek(target)
        self._buf = b""
        self._base = target
        self._i = 0

    def u32(self, what: str) -> int:
        if self._i + 4 > len(self._buf):
            self._fill(4, what)
        value = _U32.unpack_from(self._buf, self._i)[0]
        self._i += 4
        return value

    def u64(self, what: str) -> int:
        if self._i + 8 > len(self._buf):
            self._fill(8, what)
        value = _U64.unpack_from(self._buf, self._i)[0]
        self._i += 8
        return value

    def string(self, limit: int, what: str) -> bytes:
        n = self.u64(what)
        if n > limit:
            raise InvalidGGUF(f"string too long ({n} bytes, limit {limit}) in {what}")
        return self.read(n, what)

    # The two loops below run once per vocabulary entry (150k+ times), so the common case of a
    # string wholly inside the buffer is inlined; anything else takes the checked slow path.

    def strings(self, count: int, limit: int, what: str) -> list[str]:
        out = []
        append = out.append
        unpack_from = _U64.unpack_from
        for _ in range(count):
            buf, i = self._buf, self._i
            if i + 8 <= len(buf):
                n = unpack_from(buf, i)[0]
                j = i + 8 + n
                if n <= limit and j <= len(buf):
                    append(buf[i + 8 : j].decode("utf-8", "replace"))
                    self._i = j
                    continue
            append(self.string(limit, what).decode("utf-8", "replace"))
        return out

    def skip_strings(self, count: int, limit: int, what: str) -> None:
        unpack_from = _U64.unpack_from
        for _ in range(count):
            buf, i = self._buf, self._i
            if i + 8 <= len(buf):
                n = unpack_from(buf, i)[0]
                j = i + 8 + n
                if n <= limit and j <= len(buf):
                    self._i = j
                    continue
            n = self.u64(what)
            if n > limit:
                raise InvalidGGUF(f"string too long ({n} bytes, limit {limit}) in {what}")
            self.skip(n, what)


class _Parser:
    def __init__(self, r: _Reader, keep_arrays: frozenset[str], max_kept_array: int, limits: _Limits):
        self.r = r
        self.keep_arrays = keep_arrays
        self.max_kept_array = max_kept_array
        self.lim = limits

    def parse(self, path: str) -> GGUFInfo:
        r = self.r
        version, n_tensors, n_kv = self._header()
        metadata: dict[str, object] = {}
        array_lengths: dict[str, int] = {}
        for i in range(n_kv):
            key = self._key(i)
            if key in metadata or key in array_lengths:
                raise InvalidGGUF(f"duplicate metadata key '{_shown(key)}'")
            vtype = r.u32(f"metadata value for key '{_shown(key)}'")
            if vtype == _ARRAY:
                length, value = self._top_array(key)
                array_lengths[key] = length
                if value is not None:
                    metadata[key] = value
            else:
                metadata[key] = self._scalar(vtype, key)

        tensors = tuple(self._tensor_info(i) for i in range(n_tensors))
        names = set()
        for t in tensors:
            if t.name in names:
                raise InvalidGGUF(f"duplicate tensor name '{_shown(t.name)}'")
            names.add(t.name)

        alignment = self._alignment(metadata, array_lengths)
        data_offset = -(-r.pos // alignment) * alignment
        for t in tensors:
            if t.offset % alignment:
                raise InvalidGGUF(
                    f"tensor '{_shown(t.name)}' offset {t.offset} is not a multiple of the alignment {alignment}"
                )
            if data_offset + t.offset + t.n_bytes > r.size:
                raise InvalidGGUF(
                    f"tensor '{_shown(t.name)}' data (offset {t.offset} + {t.n_bytes} bytes) exceeds file size"
                )
        return GGUFInfo(path, version, metadata, array_lengths, tensors, data_offset, r.size)

    def _header(self) -> tuple[int, int, int]:
        r, lim = self.r, self.lim
        if r.size == 0:
            raise InvalidGGUF("empty file")
        magic = r.read(min(4, r.size), "header")
        if magic != MAGIC[: len(magic)]:
            raise InvalidGGUF("not a GGUF file (bad magic)")
        version = r.u32("header")
        if version not in (2, 3):
            if int.from_bytes(version.to_bytes(4, "little"), "big") in (1, 2, 3):
                raise InvalidGGUF("big-endian GGUF is not supported")
            raise InvalidGGUF(f"unsupported GGUF version {version}")
        n_tensors = r.u64("header")
        n_kv = r.u64("header")
        if n_kv > lim.max_kv:
            raise InvalidGGUF(f"too many metadata entries ({n_kv}, limit {lim.max_kv})")
        if n_tensors > lim.max_tensors:
            raise InvalidGGUF(f"too many tensors ({n_tensors}, limit {lim.max_tensors})")
        if n_kv * _MIN_KV + n_tensors * _MIN_TENSOR_INFO > r.remaining:
            raise InvalidGGUF(
                f"truncated file: {n_kv} metadata entries and {n_tensors} tensor infos "
                f"cannot fit in the remaining {r.remaining} bytes"
            )
        return version, n_tensors, n_kv

    def _key(self, i: int) -> str:
        raw = self.r.string(self.lim.max_string, f"metadata key #{i}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidGGUF(f"invalid UTF-8 in metadata key #{i}") from None

    def _scalar(self, vtype: int, key: str) -> object:
        what = f"metadata value for key '{_shown(key)}'"
        codec = _FIXED.get(vtype)
        if codec is not None:
            value = codec.unpack(self.r.read(codec.size, what))[0]
            return _f32(value) if vtype == _FLOAT32 else value
        if vtype == _STRING:
            return self.r.string(self.lim.max_string, what).decode("utf-8", "replace")
        raise InvalidGGUF(f"unknown value type {vtype} for key '{_shown(key)}'")

    def _top_array(self, key: str) -> tuple[int, list | None]:
        what = f"metadata value for key '{_shown(key)}'"
        elem_type = self.r.u32(what)
        count = self.r.u64(what)
        keep = count <= self.max_kept_array or key in self.keep_arrays
        return count, self._array(elem_type, count, key, keep, depth=1)

    def _array(self, elem_type: int, count: int, key: str, keep: bool, depth: int) -> list | None:
        """Read (``keep``) or skip the elements of an array whose header was just read."""
        r, lim = self.r, self.lim
        shown = _shown(key)
        what = f"array for key '{shown}'"
        if elem_type not in _FIXED and elem_type not in (_STRING, _ARRAY):
            raise InvalidGGUF(f"unknown value type {elem_type} for key '{shown}'")
        if count > lim.max_array:
            raise InvalidGGUF(f"array length {count} for key '{shown}' exceeds the limit of {lim.max_array}")

        codec = _FIXED.get(elem_type)
        if codec is not None:
            n_bytes = count * codec.size
            if not keep:
                r.skip(n_bytes, what)
                return None
            data = r.read(n_bytes, what)
            values = list(struct.unpack(f"<{count}{codec.format[1:]}", data))
            return [_f32(v) for v in values] if elem_type == _FLOAT32 else values

        if elem_type == _STRING:
            r.need(count * 8, what)
            if keep:
                return r.strings(count, lim.max_string, what)
            r.skip_strings(count, lim.max_string, what)
            return None

        if depth >= lim.max_nesting:
            raise InvalidGGUF(f"arrays nested too deeply (limit {lim.max_nesting}) for key '{shown}'")
        r.need(count * _MIN_ARRAY_HEADER, what)
        out = [] if keep else None
        for _ in range(count):
            inner_type = r.u32(what)
            inner_count = r.u64(what)
            inner = self._array(inner_type, inner_count, key, keep, depth + 1)
            if out is not None:
                out.append(inner)
        return out

    def _tensor_info(self, i: int) -> TensorInfo:
        r, lim = self.r, self.lim
        raw = r.string(lim.max_string, f"tensor info #{i}")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidGGUF(f"invalid UTF-8 in tensor name #{i}") from None
        shown = _shown(name)
        what = f"tensor info for '{shown}'"
        n_dims = r.u32(what)
        if n_dims > lim.max_dims:
            raise InvalidGGUF(f"tensor '{shown}' has {n_dims} dimensions (limit {lim.max_dims})")
        shape = tuple(r.u64(what) for _ in range(n_dims))
        ggml_type = r.u32(what)
        offset = r.u64(what)
        traits = GGML_TYPES.get(ggml_type)
        if traits is None:
            raise InvalidGGUF(f"unknown tensor type {ggml_type} for tensor '{shown}'")
        type_name, block, block_bytes = traits
        n_elements = math.prod(shape)
        # ggml keeps dimensions and element counts in int64_t
        if n_elements > _INT64_MAX or any(d > _INT64_MAX for d in shape):
            raise InvalidGGUF(f"tensor '{shown}' element count overflows int64 (shape {list(shape)})")
        first = shape[0] if shape else 1
        if first % block:
            raise InvalidGGUF(
                f"tensor '{shown}' first dimension {first} is not a multiple of the block size "
                f"{block} of type {type_name}"
            )
        return TensorInfo(name, shape, ggml_type, offset, n_elements // block * block_bytes)

    @staticmethod
    def _alignment(metadata: dict[str, object], array_lengths: dict[str, int]) -> int:
        if "general.alignment" in array_lengths:
            raise InvalidGGUF("invalid alignment (an array)")
        value = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value & (value - 1):
            raise InvalidGGUF(f"invalid alignment {value!r}")
        return value


def _open_nonblocking(path: str, flags: int) -> int:
    # If the path is swapped for a FIFO after the stat check, opening it must not block
    # waiting for a writer; fstat then rejects it. No effect on regular files.
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_gguf(
    path: str | os.PathLike,
    *,
    keep_arrays: Iterable[str] = ("tokenizer.ggml.tokens",),
    max_kept_array: int = 5,
    **limits: int,
) -> GGUFInfo:
    """Parse the header of the GGUF file at ``path``.

    Arrays of at most ``max_kept_array`` elements, and whole arrays whose key is in
    ``keep_arrays``, are kept in ``metadata``; all others are skipped without building Python
    objects. ``array_lengths`` records every array's length either way. ``limits`` overrides
    ``max_string``, ``max_array``, ``max_dims``, ``max_tensors``, ``max_kv`` or
    ``max_nesting`` (an unknown name is a ``TypeError``).

    Raises :class:`InvalidGGUF` for anything that is not a regular, well-formed GGUF file;
    ``OSError`` (e.g. ``FileNotFoundError``) when the file cannot be opened at all.
    """
    bounds = _Limits(**limits)
    name = os.fsdecode(path)
    # stat before open: opening a device or FIFO can block or stream forever
    if not stat.S_ISREG(os.stat(name).st_mode):
        raise InvalidGGUF("not a regular file")
    # unbuffered: _Reader does its own chunked read-ahead
    with open(name, "rb", buffering=0, opener=_open_nonblocking) as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise InvalidGGUF("not a regular file")
        reader = _Reader(f, st.st_size)
        return _Parser(reader, frozenset(keep_arrays), max_kept_array, bounds).parse(name)


def sniff(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file starting with the GGUF magic. Never raises."""
    try:
        name = os.fsdecode(path)
        if not stat.S_ISREG(os.stat(name).st_mode):
            return False
        with open(name, "rb", buffering=0, opener=_open_nonblocking) as f:
            return f.read(4) == MAGIC
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        return False

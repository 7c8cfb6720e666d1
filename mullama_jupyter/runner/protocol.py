"""The runner protocol: JSON lines between the manager (parent) and a runner (child).

Parent → child, on the child's stdin, one object per line:

    {"op": "load", "engine": "llama", "model_path": ..., "load": {num_ctx, num_batch, num_thread, ...},
     "engine_options": {...}}                                   first line, exactly once
    {"op": "complete", "id": 7, "prompt": "...", "prefix_tokens": [...], "add_bos": false,
     "options": {...effective options...}, "want_context": false, "stream_interval": 0.025}
    {"op": "embed", "id": 8, "inputs": ["..."], "truncate": true, "normalize": true, "num_ctx": 4096}
    {"op": "cancel", "id": 7}
    {"op": "exit"}

Child → parent, on a private duplicate of the child's stdout (fd 1 itself is pointed at stderr, so
stray native prints cannot corrupt the stream):

    {"t": "ready", "info": {n_ctx, n_ctx_train, n_embd, n_vocab, threads, pid, ...}}
    {"t": "tok", "id": 7, "text": "Hel"}                        zero or more per completion; tokens
                                                                 of one stream_interval travel together
    {"t": "done", "id": 7, "reason": "stop"|"length"|"cancel", "prompt_eval_count": n,
     "prompt_eval_duration": ns, "eval_count": n, "eval_duration": ns, "context": [...]?}
    {"t": "embed", "id": 8, "vectors": ["<base64 little-endian float32>", ...], "prompt_eval_count": n}
    {"t": "error", "id": 7?, "kind": "context_length"|"load"|"invalid"|"internal", "message": ...,
     "n_tokens"?: n, "n_ctx"?: n}

Requests run one at a time, in order; a cancel takes effect at the next token.
"""

from __future__ import annotations

import base64
import json
import struct
from array import array
from typing import Any

STREAM_LIMIT = 256 << 20  # bytes per line: a batch of embeddings travels as one line


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    return json.loads(line)


def pack_vector(values: Any) -> str:
    a = array("f", values)
    if struct.pack("=I", 1) != struct.pack("<I", 1):  # keep the wire little-endian everywhere
        a.byteswap()
    return base64.b64encode(a.tobytes()).decode()


def unpack_vector(data: str) -> list[float]:
    a = array("f")
    a.frombytes(base64.b64decode(data))
    if struct.pack("=I", 1) != struct.pack("<I", 1):
        a.byteswap()
    return a.tolist()

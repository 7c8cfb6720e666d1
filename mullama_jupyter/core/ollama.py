"""The Ollama wire format: JSON bodies to native requests, native results to JSON, and back.

Pure functions, shared by the HTTP routes (server side) and the HTTP client (``client.py``), so our
own CLI and magics speak exactly what the real ``ollama`` client speaks. Shapes, defaults and error
texts follow ``shared/reference/ollama-api.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from ..runner.protocol import pack_vector
from .create import CreateRequest
from .durations import parse_keep_alive
from .errors import InvalidRequest
from .gguf import GGUFInfo
from .manager import LoadedInfo
from .modelfile import to_modelfile
from .native import (Chunk, CompletionRequest, EmbedRequest, EmbedResult, Message, Metrics, Progress, TokenLogprob,
                     ToolCall)
from .options import validate_options
from .prompt import capabilities, effective_template
from .store import ModelRecord

OLLAMA_VERSION = "0.13.0"  # the Ollama API level these routes implement
THINK_LEVELS = ("high", "medium", "low", "max")
FOREVER_YEARS = 292  # Go's MaxInt64 nanoseconds: "forever" shows a year around 2318


# ----------------------------------------------------------------------------- helpers


def _get(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None, what: str = "") -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise InvalidRequest(f'invalid value for "{key}": expected {what or "a number"}, got a boolean')
    if not isinstance(value, kind):
        raise InvalidRequest(f'invalid value for "{key}": expected {what or _kind_name(kind)}, got {_json_type(value)}')
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "a boolean", list: "an array", dict: "an object", int: "an integer"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _json_type(value: Any) -> str:
    return {bool: "a boolean", str: "a string", int: "a number", float: "a number", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def model_field(body: dict[str, Any]) -> str:
    """``model``, or its deprecated alias ``name``."""
    value = body.get("model") or body.get("name") or ""
    if not isinstance(value, str):
        raise InvalidRequest(f'invalid value for "model": expected a string, got {_json_type(value)}')
    return value


def _images(value: Any, key: str = "images") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f'invalid value for "{key}": expected an array of base64 strings')
    for v in value:
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("illegal base64 data in images") from None
    return list(value)


def _think(value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in THINK_LEVELS:
        return value
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    raise InvalidRequest(f'invalid think value: {shown} (must be "high", "medium", "low", "max", true, or false)')


def _format(value: Any) -> Any:
    if value in (None, ""):
        return None
    if value == "json" or isinstance(value, dict):
        return value
    raise InvalidRequest(f'invalid format: {json.dumps(json.dumps(value))}; expected "json" or a valid JSON Schema object')


def _logprobs(body: dict[str, Any]) -> int | None:
    """``logprobs: true`` (+ ``top_logprobs`` 0-20) as the native count of alternatives, else None."""
    top = _get(body, "top_logprobs", int, 0)
    if not 0 <= top <= 20:
        raise InvalidRequest("top_logprobs must be between 0 and 20")
    return top if _get(body, "logprobs", bool, False) else None


def _common(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "logprobs": _logprobs(body),
        "debug_render_only": bool(_get(body, "_debug_render_only", bool, False)),
        "options": validate_options(body.get("options")),
        "keep_alive": parse_keep_alive(body.get("keep_alive")),
        "format": _format(body.get("format")),
        "think": _think(body.get("think")),
    }


def wants_stream(body: dict[str, Any]) -> bool:
    """``stream`` defaults to true; only an explicit false gives one object."""
    value = body.get("stream", True)
    if value is None:
        return True
    if not isinstance(value, bool):
        raise InvalidRequest(f'invalid value for "stream": expected a boolean, got {_json_type(value)}')
    return value


# ----------------------------------------------------------------------------- requests


def parse_message(m: Any, i: int) -> Message:
    if not isinstance(m, dict):
        raise InvalidRequest(f"invalid message at index {i}: expected an object")
    role = m.get("role")
    if not isinstance(role, str) or not role:
        raise InvalidRequest(f'invalid message at index {i}: "role" is required')
    content = m.get("content") or ""
    if not isinstance(content, str):
        raise InvalidRequest(f'invalid message at index {i}: "content" must be a string')
    calls = []
    for j, c in enumerate(m.get("tool_calls") or []):
        fn = (c or {}).get("function") or {}
        args = fn.get("arguments", {})
        if not isinstance(fn.get("name"), str) or not isinstance(args, dict):
            raise InvalidRequest(f"invalid tool call {j} in message {i}: needs a name and an arguments object")
        calls.append(ToolCall(fn["name"], args, id=str(c.get("id") or ""), index=int(fn.get("index", j) or 0)))
    return Message(
        role=role.lower(),
        content=content,
        thinking=m.get("thinking") or "",
        images=_images(m.get("images"), f"messages[{i}].images"),
        tool_calls=calls,
        tool_name=m.get("tool_name") or None,
    )


def parse_generate(body: dict[str, Any]) -> CompletionRequest:
    prompt = _get(body, "prompt", str, "")
    system = _get(body, "system", str)
    template = _get(body, "template", str)
    raw = _get(body, "raw", bool, False)
    context = _get(body, "context", list)
    if context is not None and not all(isinstance(t, int) and not isinstance(t, bool) for t in context):
        raise InvalidRequest('invalid value for "context": expected an array of integers')
    if raw and (template or system or context):
        raise InvalidRequest("raw mode does not support template, system, or context")
    suffix = _get(body, "suffix", str) or None
    images = _images(body.get("images"))
    req = CompletionRequest(model=model_field(body), system=system, template=template, context=context or None,
                            want_context=not raw, suffix=suffix, **_common(body))
    if raw:
        req.raw_prompt = prompt or None
    elif prompt or images:
        req.messages = [Message(role="user", content=prompt, images=images)]
    return req


def parse_chat(body: dict[str, Any]) -> CompletionRequest:
    messages = _get(body, "messages", list, [])
    tools = _get(body, "tools", list, [])
    # Not in Ollama's API: "tool_choice" like OpenAI's (auto, none, required or {"name": ...}).
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        choice = {"name": choice["function"].get("name")}
    return CompletionRequest(model=model_field(body), messages=[parse_message(m, i) for i, m in enumerate(messages)],
                             tools=tools, tool_choice=choice or "auto", **_common(body))


def parse_embed(body: dict[str, Any]) -> EmbedRequest:
    raw = body.get("input")
    if raw is None or raw == "":
        inputs: list[str] = []
    elif isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        inputs = list(raw)
    else:
        raise InvalidRequest("invalid input type")
    dims = _get(body, "dimensions", int)
    # "normalize" is ours (Ollama always normalises /api/embed); false gives the pooled vectors as they are.
    return EmbedRequest(model=model_field(body), inputs=inputs, truncate=_get(body, "truncate", bool, True),
                        dimensions=dims, options=validate_options(body.get("options")),
                        keep_alive=parse_keep_alive(body.get("keep_alive")),
                        normalize=_get(body, "normalize", bool, True))


EMBED_ENCODINGS = ("float", "base64")


def embed_encoding(body: dict[str, Any]) -> str:
    """Ours too: ``"encoding": "base64"`` sends each vector as base64 of little-endian float32, a
    quarter of the JSON text of a float list and no float parsing for the client."""
    value = _get(body, "encoding", str, "float")
    if value not in EMBED_ENCODINGS:
        raise InvalidRequest(f'invalid encoding "{value}": expected "float" or "base64"')
    return value


def parse_embeddings(body: dict[str, Any]) -> EmbedRequest:
    """The legacy route: one prompt, a raw (not normalised) vector."""
    prompt = _get(body, "prompt", str, "")
    return EmbedRequest(model=model_field(body), inputs=[prompt] if prompt else [], normalize=False,
                        options=validate_options(body.get("options")),
                        keep_alive=parse_keep_alive(body.get("keep_alive")))


def parse_create(body: dict[str, Any]) -> CreateRequest:
    model = model_field(body)
    if not model:
        raise InvalidRequest("model is required")

    def digests(key: str, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise InvalidRequest(f'invalid value for "{key}": expected an object of file name -> digest')
        return dict(value)

    license_ = body.get("license") or []
    if isinstance(license_, str):
        license_ = [license_]
    if not isinstance(license_, list) or not all(isinstance(x, str) for x in license_):
        raise InvalidRequest('invalid value for "license": expected a string or an array of strings')
    messages = []
    for i, m in enumerate(_get(body, "messages", list, [])):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise InvalidRequest(f'invalid message at index {i}: role must be one of "system", "user", or "assistant"')
        messages.append({"role": m["role"], "content": str(m.get("content") or "")})
    extra = dict(_get(body, "mullama", dict, {}))
    projector = digests("mullama.projector", extra.pop("projector", None))
    return CreateRequest(
        model=model, from_=_get(body, "from", str) or None, files=digests("files", body.get("files")),
        adapters=digests("adapters", body.get("adapters")), template=_get(body, "template", str),
        system=_get(body, "system", str), license=license_, parameters=_get(body, "parameters", dict, {}),
        messages=messages, quantize=_get(body, "quantize", str) or None, settings=extra, projector=projector,
    )


# ----------------------------------------------------------------------------- responses


def now_utc() -> str:
    """Go's RFC3339Nano in UTC with a Z, as ``created_at`` carries it."""
    ns = time.time_ns()
    base = datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def local_time(ts: float) -> str:
    if math.isinf(ts):
        return (datetime.now().astimezone() + timedelta(days=365 * FOREVER_YEARS)).isoformat()
    return datetime.fromtimestamp(ts).astimezone().isoformat()


def _metrics(m: Metrics | None) -> dict[str, int]:
    if m is None:
        return {}
    pairs = [("total_duration", m.total_duration), ("load_duration", m.load_duration),
             ("prompt_eval_count", m.prompt_eval_count), ("prompt_eval_duration", m.prompt_eval_duration),
             ("eval_count", m.eval_count), ("eval_duration", m.eval_duration)]
    # Ollama omits zero metrics, except load_duration on a final chunk (DESIGN.md: always integers).
    return {k: int(v) for k, v in pairs if v or k == "load_duration"}


def logprob_entries(entries: list[TokenLogprob]) -> list[dict[str, Any]]:
    """Ollama's (and OpenAI's) per-token shape."""
    out = []
    for e in entries:
        d: dict[str, Any] = {"token": e.token, "logprob": e.logprob, "bytes": e.bytes}
        if e.top:
            d["top_logprobs"] = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in e.top]
        out.append(d)
    return out


def _tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "function": {"index": c.index, "name": c.name, "arguments": c.arguments}} for c in calls]


def generate_chunk(model: str, c: Chunk, created_at: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"model": model, "created_at": created_at or now_utc(), "response": c.content}
    if c.thinking:
        d["thinking"] = c.thinking
    d["done"] = c.done
    if c.done_reason:
        d["done_reason"] = c.done_reason
    if c.context is not None:
        d["context"] = c.context
    d.update(_metrics(c.metrics))
    if c.tool_calls:
        d["tool_calls"] = _tool_calls(c.tool_calls)
    if c.logprobs:
        d["logprobs"] = logprob_entries(c.logprobs)
    return d


def chat_chunk(model: str, c: Chunk, created_at: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": c.content}
    if c.thinking:
        msg["thinking"] = c.thinking
    if c.tool_calls:
        msg["tool_calls"] = _tool_calls(c.tool_calls)
    d: dict[str, Any] = {"model": model, "created_at": created_at or now_utc(), "message": msg, "done": c.done}
    if c.done_reason:
        d["done_reason"] = c.done_reason
    if c.logprobs:
        d["logprobs"] = logprob_entries(c.logprobs)
    d.update(_metrics(c.metrics))
    return d


def debug_render(kind: str, model: str, rendered: str, images: int) -> dict[str, Any]:
    """Ollama's ``_debug_render_only`` answer: the prompt the model would get, nothing generated."""
    d: dict[str, Any] = {"model": model, "created_at": now_utc()}
    if kind == "chat":
        d["message"] = {"role": "assistant", "content": ""}
    else:
        d["response"] = ""
    d["done"] = False
    d["_debug_info"] = {"rendered_template": rendered, "image_count": images}
    return d


def merge_chunks(chunks: list[Chunk]) -> Chunk:
    """What ``stream:false`` returns: texts joined, tool calls gathered, the final chunk's metrics."""
    last = chunks[-1] if chunks else Chunk(done=True)
    return Chunk(
        content="".join(c.content for c in chunks),
        thinking="".join(c.thinking for c in chunks),
        tool_calls=[t for c in chunks for t in c.tool_calls],
        logprobs=[e for c in chunks for e in c.logprobs],
        done=True,
        done_reason=last.done_reason,
        stop_sequence=last.stop_sequence,
        metrics=last.metrics,
        context=last.context,
    )


def details(info: GGUFInfo) -> dict[str, Any]:
    d: dict[str, Any] = {
        "parent_model": "",
        "format": "gguf",
        "family": info.architecture,
        "families": [info.architecture] if info.architecture else None,
        "parameter_size": info.parameter_size,
        "quantization_level": info.quantization_level,
    }
    if info.context_length:
        d["context_length"] = int(info.context_length)
    if info.embedding_length:
        d["embedding_length"] = int(info.embedding_length)
    return d


def tag_entry(record: ModelRecord, info: GGUFInfo) -> dict[str, Any]:
    name = record.name.display
    entry = {"name": name, "model": name, "modified_at": local_time(record.modified_at), "size": record.size,
             "digest": record.digest, "details": details(info), "capabilities": capabilities(record, info)}
    if record.origin != "mullama":
        entry["origin"] = record.origin  # read in place from an Ollama store
    return entry


def tags(models: list[tuple[ModelRecord, GGUFInfo]]) -> dict[str, Any]:
    return {"models": [tag_entry(r, i) for r, i in models]}


def ps(rows: list[LoadedInfo]) -> dict[str, Any]:
    out = []
    for row in rows:
        name = row.record.name.display
        out.append({"name": name, "model": name, "size": row.size, "digest": row.record.digest,
                    "details": details(row.info), "expires_at": local_time(row.expires_at), "size_vram": 0,
                    "context_length": row.context_length})
    return {"models": out}


def _go_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def parameters_text(params: dict[str, Any]) -> str:
    """Go's ``%-30s %#v`` lines, one per value."""
    lines = []
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<30} {_go_value(v)}")
    return "\n".join(lines)


def show(record: ModelRecord, info: GGUFInfo, verbose: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if record.license:
        d["license"] = "\n".join(record.license)
    d["modelfile"] = to_modelfile(record)
    if record.params:
        d["parameters"] = parameters_text(record.params)
    d["template"] = effective_template(record, info)
    if record.system:
        d["system"] = record.system
    d["details"] = details(info)
    if record.messages:
        d["messages"] = record.messages
    d["model_info"] = info.model_info(verbose=verbose)
    d["capabilities"] = capabilities(record, info)
    d["modified_at"] = local_time(record.modified_at)
    source = record.source
    if record.origin != "mullama":
        source = {"kind": record.origin, **source}
    if source:
        d["mullama_source"] = source
    return d


def progress(p: Progress) -> dict[str, Any]:
    d: dict[str, Any] = {"status": p.status}
    if p.digest:
        d["digest"] = p.digest
    if p.total is not None:
        d["total"] = p.total
    if p.completed:
        d["completed"] = p.completed
    return d


def embed_response(model: str, r: EmbedResult, encoding: str = "float") -> dict[str, Any]:
    vectors: list[Any] = r.embeddings
    if encoding == "base64":
        vectors = [pack_vector(v) for v in r.embeddings]
    d: dict[str, Any] = {"model": model, "embeddings": vectors}
    if r.embeddings:
        d.update({"total_duration": r.total_duration, "load_duration": r.load_duration,
                  "prompt_eval_count": r.prompt_eval_count})
    return d


# ----------------------------------------------------------------------------- client side


def chunk_from_wire(d: dict[str, Any]) -> Chunk:
    """A generate or chat line, as our own HTTP client reads it."""
    msg = d.get("message")
    content = (msg or {}).get("content", "") if msg is not None else d.get("response", "")
    thinking = (msg or {}).get("thinking", "") if msg is not None else d.get("thinking", "")
    raw_calls = (msg or {}).get("tool_calls") if msg is not None else d.get("tool_calls")
    calls = [ToolCall(c["function"]["name"], c["function"].get("arguments", {}), id=c.get("id", ""),
                      index=c["function"].get("index", 0)) for c in raw_calls or []]
    metrics = None
    if d.get("done"):
        metrics = Metrics(**{k: int(d.get(k, 0)) for k in Metrics.__dataclass_fields__})
    logprobs = [TokenLogprob(e.get("token", ""), float(e.get("logprob", 0.0)), list(e.get("bytes") or []),
                             [(t.get("token", ""), float(t.get("logprob", 0.0))) for t in e.get("top_logprobs") or []])
                for e in d.get("logprobs") or []]
    return Chunk(content=content or "", thinking=thinking or "", tool_calls=calls, done=bool(d.get("done")),
                 done_reason=d.get("done_reason"), metrics=metrics, context=d.get("context"), logprobs=logprobs)


def progress_from_wire(d: dict[str, Any]) -> Progress:
    return Progress(d.get("status", ""), d.get("digest"), d.get("total"), d.get("completed"))

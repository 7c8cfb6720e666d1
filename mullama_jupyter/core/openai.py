"""The OpenAI wire format: request bodies to native requests, native chunks to OpenAI objects.

Pure functions and small stateful encoders, no web framework: ``server/openai.py`` only moves bytes.
Shapes are what the ``openai`` SDK reads; where OpenAI leaves a choice open (defaults, ids, the
reasoning field), Ollama's compatibility layer decides (``shared/reference/ollama-api.md`` §1.11),
so clients written against Ollama's ``/v1`` work here unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .durations import parse_keep_alive
from .errors import InvalidOption, InvalidRequest
from .native import Chunk, CompletionRequest, EmbedRequest, EmbedResult, Message, TokenLogprob, ToolCall
from .ollama import merge_chunks
from .options import validate_options
from .store import ModelRecord

SYSTEM_FINGERPRINT = "fp_ollama"  # what Ollama's compat layer sends; some clients log it, none compare it
DONE = "data: [DONE]\n\n"
SSE = "text/event-stream"
# Ollama's /v1 defaults: OpenAI's own, not the model's (a model's PARAMETER temperature does not apply).
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0
# OpenAI's effort scale folded onto the native think levels.
EFFORT = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high",
          "max": "high"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 429: "rate_limit_error"}
ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 503: "server_busy"}
IMAGE_URL_ERROR = "image URLs are not currently supported, please use base64 encoded data instead"


# ----------------------------------------------------------------------------- errors


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's envelope; the SDK picks its exception class from the status, and shows ``message``."""
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "api_error"), "param": None,
                      "code": ERROR_CODES.get(status)}}


def sse(events: list[dict[str, Any]]) -> str:
    return "".join(f"data: {_dumps(e)}\n\n" for e in events)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ----------------------------------------------------------------------------- field helpers


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", int: "a number", float: "a number", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def _bad(key: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(f'invalid value for "{key}": expected {expected}, got {_kind(value)}')


def _str(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _bad(key, "a string", value)
    return value


def _bool(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(key, "a boolean", value)
    return value


def _int(body: dict[str, Any], key: str, lo: int, hi: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, "an integer", value)
    if value < lo or (hi is not None and value > hi):
        bounds = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise InvalidRequest(f'invalid value for "{key}": {value} (must be {bounds})')
    return value


def _option(key: str, native: str, value: Any) -> Any:
    """One OpenAI parameter checked as the native option it becomes, with the OpenAI name in the error."""
    try:
        return validate_options({native: value})[native]
    except InvalidOption as e:
        raise InvalidRequest(e.message.replace(f'option "{native}"', f'"{key}"')) from None


def model_of(body: dict[str, Any]) -> str:
    model = _str(body, "model", "")
    if not model:
        raise InvalidRequest('"model" is required')
    return model


# ----------------------------------------------------------------------------- requests


@dataclass
class Parsed:
    """A native request plus what only the OpenAI answer needs."""

    request: CompletionRequest
    stream: bool = False
    include_usage: bool = False
    echo: str = ""  # /v1/completions with echo: the prompt, put before the answer
    logprobs: bool = False  # the answer carries a logprobs object (null otherwise)


def _options(body: dict[str, Any]) -> dict[str, Any]:
    """Sampling parameters as native options; Ollama's ``options`` extension underneath them."""
    options = validate_options(body.get("options"))
    for key, native in (("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed"),
                        ("presence_penalty", "presence_penalty"), ("frequency_penalty", "frequency_penalty")):
        if body.get(key) is not None:
            options[native] = _option(key, native, body[key])
    options.setdefault("temperature", DEFAULT_TEMPERATURE)
    options.setdefault("top_p", DEFAULT_TOP_P)
    for key in ("max_completion_tokens", "max_tokens"):  # the newer name wins when both are sent
        n = _int(body, key, 1)
        if n is not None:
            options["num_predict"] = n
            break
    stop = body.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _bad("stop", "a string or an array of strings", stop)
        options["stop"] = [s for s in stop if s]
    return options


def _common(body: dict[str, Any]) -> dict[str, Any]:
    n = _int(body, "n", 1)
    if n is not None and n != 1:
        raise InvalidRequest(f'invalid value for "n": {n} (only one choice per request is supported)')
    stream = _bool(body, "stream")
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise _bad("stream_options", "an object", opts)
    return {"stream": stream, "include_usage": stream and _bool(opts or {}, "include_usage")}


def parse_chat(body: dict[str, Any]) -> Parsed:
    """``POST /v1/chat/completions`` as a native chat request."""
    model = model_of(body)
    raw = body.get("messages")
    if not isinstance(raw, list):
        raise _bad("messages", "an array of messages", raw)
    if not raw:
        raise InvalidRequest("[] is too short - 'messages'")
    messages = _messages(raw)
    tools = _tools(body.get("tools"))
    logprobs = _bool(body, "logprobs")
    top = _int(body, "top_logprobs", 0, 20)
    if top is not None and not logprobs:
        raise InvalidRequest('"top_logprobs" needs "logprobs": true')
    req = CompletionRequest(
        model=model, messages=messages, tools=tools, tool_choice=_tool_choice(body.get("tool_choice")),
        format=_response_format(body.get("response_format")), options=_options(body),
        keep_alive=parse_keep_alive(body.get("keep_alive")), think=_effort(body),
        logprobs=(top or 0) if logprobs else None,
    )
    return Parsed(req, logprobs=logprobs, **_common(body))


def parse_completion(body: dict[str, Any]) -> Parsed:
    """``POST /v1/completions``: the prompt as one user turn through the model's template, like
    Ollama's ``/v1/completions`` (which is its ``/api/generate`` without ``raw``)."""
    model = model_of(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if prompt is None:
        prompt = ""
    if not isinstance(prompt, str):
        if isinstance(prompt, list) and len(prompt) > 1 and all(isinstance(p, str) for p in prompt):
            raise InvalidRequest('invalid value for "prompt": only one prompt per request is supported')
        raise InvalidRequest('invalid value for "prompt": expected a string (token arrays are not supported)')
    best_of = _int(body, "best_of", 1)
    if best_of is not None and best_of != 1:
        raise InvalidRequest(f'invalid value for "best_of": {best_of} (only 1 is supported)')
    echo = _bool(body, "echo")
    top = _int(body, "logprobs", 0, 20)
    if echo and top is not None:
        raise InvalidRequest('"echo" with "logprobs" is not supported: prompt tokens have no log probabilities here')
    req = CompletionRequest(
        model=model, messages=[Message("user", prompt)], suffix=_str(body, "suffix") or None,
        options=_options(body), keep_alive=parse_keep_alive(body.get("keep_alive")), logprobs=top,
    )
    return Parsed(req, echo=prompt if echo else "", logprobs=top is not None, **_common(body))


def _effort(body: dict[str, Any]) -> bool | str | None:
    effort = body.get("reasoning_effort")
    key = "reasoning_effort"
    reasoning = body.get("reasoning")
    if effort is None and reasoning is not None:
        if not isinstance(reasoning, dict):
            raise _bad("reasoning", "an object", reasoning)
        effort, key = reasoning.get("effort"), "reasoning.effort"
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in EFFORT:
        raise InvalidRequest(f'invalid value for "{key}": {json.dumps(effort)} '
                             f'(must be one of {", ".join(EFFORT)})')
    return EFFORT[effort]


def _response_format(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("response_format", "an object", value)
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            raise _bad("response_format.json_schema", "an object", spec)
        schema = spec.get("schema", {"type": "object"})
        if not isinstance(schema, dict):
            raise _bad("response_format.json_schema.schema", "an object", schema)
        return schema
    raise InvalidRequest(f'invalid value for "response_format.type": {json.dumps(kind)} '
                         '(must be "text", "json_object" or "json_schema")')


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("tools", "an array", value)
    tools = []
    for i, t in enumerate(value):
        if not isinstance(t, dict) or t.get("type", "function") != "function":
            kind = t.get("type") if isinstance(t, dict) else None
            raise InvalidRequest(f'invalid value for "tools[{i}]": only function tools are supported'
                                 + (f', not "{kind}"' if isinstance(kind, str) else ""))
        fn = t.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise InvalidRequest(f'invalid value for "tools[{i}].function": needs a "name"')
        if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
            raise _bad(f"tools[{i}].function.parameters", "a JSON schema object", fn["parameters"])
        tools.append({"type": "function", "function": fn})
    return tools


def _tool_choice(value: Any) -> str | dict[str, Any]:
    if value is None:
        return "auto"
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        name = (value.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"name": name}
    raise InvalidRequest('invalid value for "tool_choice": must be "auto", "none", "required" or '
                         '{"type": "function", "function": {"name": ...}}')


def _messages(raw: list[Any]) -> list[Message]:
    out: list[Message] = []
    names: dict[str, str] = {}  # tool call id -> function name, for the tool results that answer them
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _bad(where, "an object", m)
        role = m.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant", "tool"):
            raise InvalidRequest(f'invalid value for "{where}.role": {json.dumps(role)} '
                                 '(must be "system", "developer", "user", "assistant" or "tool")')
        text, images = _content(m.get("content"), f"{where}.content")
        msg = Message(role=role, content=text, images=images)
        if role == "assistant":
            thinking = m.get("reasoning") or m.get("reasoning_content") or ""
            msg.thinking = thinking if isinstance(thinking, str) else ""
            msg.tool_calls = _calls(m.get("tool_calls"), where)
            names.update((c.id, c.name) for c in msg.tool_calls if c.id)
        if role == "tool":
            call = m.get("tool_call_id")
            name = names.get(call) if isinstance(call, str) else None
            msg.tool_name = name or (m["name"] if isinstance(m.get("name"), str) else None)
        out.append(msg)
    return out


def _content(value: Any, where: str) -> tuple[str, list[str]]:
    """A message's text and base64 images, from a string or an array of content parts."""
    if value is None:
        return "", []
    if isinstance(value, str):
        return value, []
    if not isinstance(value, list):
        raise _bad(where, "a string or an array of content parts", value)
    texts, images = [], []
    for j, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "input_text", "refusal"):
            text = part.get("text", part.get("refusal"))
            if not isinstance(text, str):
                raise _bad(f"{where}[{j}].text", "a string", text)
            texts.append(text)
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            images.append(_data_url(url, f"{where}[{j}].image_url"))
        else:
            raise InvalidRequest(f'invalid value for "{where}[{j}]": content parts of type '
                                 f'{json.dumps(kind)} are not supported (use "text" or "image_url")')
    return "\n".join(texts), images


def _data_url(url: Any, where: str) -> str:
    if not isinstance(url, str):
        raise _bad(f"{where}.url", "a string", url)
    if url.startswith(("http://", "https://")):
        raise InvalidRequest(IMAGE_URL_ERROR)
    head, sep, data = url.partition(",")
    if not (head.startswith("data:") and head.endswith(";base64") and sep):
        raise InvalidRequest(f'invalid value for "{where}.url": expected a data:image/...;base64,... URL')
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f'invalid value for "{where}.url": the base64 data does not decode') from None
    return data


def _calls(value: Any, where: str) -> list[ToolCall]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{where}.tool_calls", "an array", value)
    calls = []
    for j, c in enumerate(value):
        at = f"{where}.tool_calls[{j}]"
        fn = c.get("function") if isinstance(c, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest(f'invalid value for "{at}": needs "function": {{"name", "arguments"}}')
        args = fn.get("arguments") or "{}"
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                raise InvalidRequest(f'invalid value for "{at}.function.arguments": not valid JSON') from None
        if not isinstance(args, dict):
            raise InvalidRequest(f'invalid value for "{at}.function.arguments": expected a JSON object')
        calls.append(ToolCall(fn["name"], args, id=str(c.get("id") or ""), index=j))
    return calls


def parse_embeddings(body: dict[str, Any]) -> tuple[EmbedRequest, str]:
    """``POST /v1/embeddings``: the native request and the encoding the answer uses."""
    model = model_of(body)
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        inputs = list(raw)
    elif raw is None:
        raise InvalidRequest('"input" is required')
    elif isinstance(raw, list) and all(isinstance(x, (int, list)) and not isinstance(x, bool) for x in raw):
        raise InvalidRequest('invalid value for "input": token arrays are not supported, send text')
    else:
        raise _bad("input", "a string or an array of strings", raw)
    if not inputs:
        raise InvalidRequest('invalid value for "input": the array is empty')
    encoding = _str(body, "encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidRequest(f'invalid value for "encoding_format": {json.dumps(encoding)} '
                             '(must be "float" or "base64")')
    req = EmbedRequest(model=model, inputs=inputs, dimensions=_int(body, "dimensions", 1),
                       options=validate_options(body.get("options")),
                       keep_alive=parse_keep_alive(body.get("keep_alive")))
    return req, encoding or "float"


# ----------------------------------------------------------------------------- responses


def usage(c: Chunk) -> dict[str, int]:
    m = c.metrics
    prompt, completion = (m.prompt_eval_count, m.eval_count) if m else (0, 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _bytes(e: TokenLogprob) -> list[int]:
    return list(e.bytes) if e.bytes else list(e.token.encode())


def chat_logprobs(entries: list[TokenLogprob]) -> dict[str, Any]:
    return {"content": [{"token": e.token, "logprob": e.logprob, "bytes": _bytes(e),
                         "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in e.top]}
                        for e in entries], "refusal": None}


def text_logprobs(entries: list[TokenLogprob], offset: int) -> dict[str, Any]:
    """The legacy /v1/completions shape: parallel arrays, offsets into the whole text."""
    offsets = []
    for e in entries:
        offsets.append(offset)
        offset += len(e.token)
    return {"tokens": [e.token for e in entries], "token_logprobs": [e.logprob for e in entries],
            "top_logprobs": [dict(e.top) for e in entries], "text_offset": offsets}


def _wire_call(c: ToolCall) -> dict[str, Any]:
    return {"id": c.id, "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}


def finish_reason(c: Chunk, had_calls: bool) -> str:
    if had_calls:
        return "tool_calls"
    return "length" if c.done_reason == "length" else "stop"


@dataclass
class _Encoder:
    model: str
    parsed: Parsed = field(default_factory=lambda: Parsed(CompletionRequest("")))
    id: str = ""
    created: int = 0

    prefix = ""
    object = ""
    chunk_object = ""

    def __post_init__(self) -> None:
        self.id = self.id or f"{self.prefix}-{uuid.uuid4().hex[:24]}"
        self.created = self.created or int(time.time())

    def _envelope(self, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model,
                "system_fingerprint": SYSTEM_FINGERPRINT, "choices": choices}

    def _usage_chunk(self, c: Chunk) -> dict[str, Any]:
        return {**self._envelope(self.chunk_object, []), "usage": usage(c)}

    def _chunk(self, choice: dict[str, Any]) -> dict[str, Any]:
        d = self._envelope(self.chunk_object, [choice])
        if self.parsed.include_usage:
            d["usage"] = None  # as OpenAI: every chunk has the key, only the last one a value
        return d


@dataclass
class ChatEncoder(_Encoder):
    """``chat.completion`` objects, and ``chat.completion.chunk`` events for a stream."""

    prefix = "chatcmpl"
    object = "chat.completion"
    chunk_object = "chat.completion.chunk"
    _started: bool = False
    _calls: int = 0  # tool calls streamed so far: each one's index in the answer

    def complete(self, chunks: list[Chunk]) -> dict[str, Any]:
        c = merge_chunks(chunks)
        message: dict[str, Any] = {"role": "assistant", "content": c.content}
        if c.thinking:
            message["reasoning"] = message["reasoning_content"] = c.thinking
        if c.tool_calls:
            message["content"] = c.content or None
            message["tool_calls"] = [_wire_call(t) for t in c.tool_calls]
        choice = {"index": 0, "message": message,
                  "logprobs": chat_logprobs(c.logprobs) if self.parsed.logprobs else None,
                  "finish_reason": finish_reason(c, bool(c.tool_calls))}
        return {**self._envelope(self.object, [choice]), "usage": usage(c)}

    def stream(self, c: Chunk) -> list[dict[str, Any]]:
        """The events one native chunk becomes: the first carries the role, the final one the
        finish reason in a chunk of its own (then usage, when asked), as Ollama and OpenAI send them."""
        out = []
        if not self._started or c.content or c.thinking or c.tool_calls or c.logprobs:
            delta: dict[str, Any] = {"role": "assistant"} if not self._started else {}
            self._started = True
            delta["content"] = c.content
            if c.thinking:
                delta["reasoning"] = delta["reasoning_content"] = c.thinking
            if c.tool_calls:
                delta["tool_calls"] = [{"index": self._calls + i, **_wire_call(t)} for i, t in enumerate(c.tool_calls)]
                self._calls += len(c.tool_calls)
            logprobs = chat_logprobs(c.logprobs) if self.parsed.logprobs else None
            out.append(self._chunk({"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": None}))
        if c.done:
            out.append(self._chunk({"index": 0, "delta": {}, "logprobs": None,
                                    "finish_reason": finish_reason(c, self._calls > 0)}))
            if self.parsed.include_usage:
                out.append(self._usage_chunk(c))
        return out


@dataclass
class TextEncoder(_Encoder):
    """``text_completion`` objects, for ``/v1/completions`` answers and their streams (same shape)."""

    prefix = "cmpl"
    object = "text_completion"
    chunk_object = "text_completion"
    _offset: int = 0  # characters of text sent so far, for logprobs' text_offset
    _started: bool = False

    def _choice(self, text: str, entries: list[TokenLogprob], finish: str | None) -> dict[str, Any]:
        logprobs = text_logprobs(entries, self._offset) if self.parsed.logprobs else None
        self._offset += len(text)
        return {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish}

    def complete(self, chunks: list[Chunk]) -> dict[str, Any]:
        c = merge_chunks(chunks)
        text = self.parsed.echo + c.content
        choice = self._choice(text, c.logprobs, finish_reason(c, False))
        return {**self._envelope(self.object, [choice]), "usage": usage(c)}

    def stream(self, c: Chunk) -> list[dict[str, Any]]:
        out = []
        text = c.content
        if not self._started:
            text, self._started = self.parsed.echo + text, True
        if text or c.logprobs:
            out.append(self._chunk(self._choice(text, c.logprobs, None)))
        if c.done:
            finish = finish_reason(c, False)
            out.append(self._chunk({"text": "", "index": 0, "logprobs": None, "finish_reason": finish}))
            if self.parsed.include_usage:
                out.append(self._usage_chunk(c))
        return out


def embeddings_response(model: str, result: EmbedResult, encoding: str) -> dict[str, Any]:
    def encode(v: list[float]) -> Any:
        # Little-endian float32, which is what the SDK decodes (numpy's frombuffer or array("f")).
        return base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if encoding == "base64" else v

    n = result.prompt_eval_count
    data = [{"object": "embedding", "embedding": encode(v), "index": i} for i, v in enumerate(result.embeddings)]
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": n, "total_tokens": n}}


def model_object(record: ModelRecord, requested: str | None = None) -> dict[str, Any]:
    return {"id": requested or record.name.display, "object": "model", "created": int(record.modified_at),
            "owned_by": record.name.namespace}


def models_list(records: list[ModelRecord]) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(r) for r in records]}

"""The Anthropic Messages wire format: request bodies to native requests, native chunks to Messages.

Pure functions and one small stateful encoder, no web framework: ``server/anthropic.py`` only moves
bytes. Shapes are what the ``anthropic`` SDK reads. Error messages name the field the way Anthropic's
API does (``max_tokens: Field required``, ``messages.0.content.1.source: ...``).

A streamed answer and a whole one come from the same code: ``MessageEncoder.events`` turns each native
chunk into Anthropic's stream events, and ``MessageEncoder.complete`` folds those events into the
Message object, so both agree on block order and stop reasons by construction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidOption, InvalidRequest
from .native import Chunk, CompletionRequest, Message, ToolCall
from .options import validate_options

SSE = "text/event-stream"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
               429: "rate_limit_error", 503: "overloaded_error", 529: "overloaded_error"}
# thinking.budget_tokens folded onto the native think levels (Anthropic's minimum budget is 1024).
BUDGET_LEVELS = ((4096, "low"), (16384, "medium"))
EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
BLOCK_TYPES = "text, image, tool_use, tool_result or thinking"
_ALNUM = string.ascii_letters + string.digits


# ----------------------------------------------------------------------------- errors and events


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's envelope; the SDK picks its exception class from the status and shows ``message``."""
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}


def sse(events: list[dict[str, Any]]) -> str:
    """Server-sent events named by their ``type``, as Anthropic sends them."""
    return "".join(f"event: {e['type']}\ndata: {_dumps(e)}\n\n" for e in events)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _id(prefix: str) -> str:
    return prefix + "01" + "".join(secrets.choice(_ALNUM) for _ in range(22))


def message_id() -> str:
    return _id("msg_")


def tool_use_id() -> str:
    return _id("toolu_")


def signature(thinking: str) -> str:
    """An opaque token for a thinking block. Nothing checks it here; clients only pass it back."""
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


# ----------------------------------------------------------------------------- field helpers


def _missing(path: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: Field required")


def _should(path: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: Input should be {what}")


def _string(value: Any, path: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _missing(path)
        return None
    if not isinstance(value, str):
        raise _should(path, "a valid string")
    return value


def _integer(value: Any, path: str, lo: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _should(path, "a valid integer")
    if value < lo:
        raise _should(path, f"greater than or equal to {lo}")
    return value


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _should(path, "a valid dictionary")
    return value


def _option(key: str, value: Any) -> Any:
    """A sampling parameter checked as the native option it becomes, with Anthropic's name in the error."""
    try:
        return validate_options({key: value})[key]
    except InvalidOption as e:
        raise InvalidRequest(f"{key}: " + e.message.replace(f'option "{key}" ', "")) from None


# ----------------------------------------------------------------------------- requests


@dataclass
class Parsed:
    request: CompletionRequest
    stream: bool = False


def parse_messages(body: dict[str, Any]) -> Parsed:
    """``POST /v1/messages`` as a native chat request."""
    model = _string(body.get("model"), "model", required=True)
    if not model:
        raise _missing("model")
    max_tokens = _integer(body.get("max_tokens"), "max_tokens", 1)
    if max_tokens is None:
        raise _missing("max_tokens")
    raw = body.get("messages")
    if raw is None:
        raise _missing("messages")
    if not isinstance(raw, list):
        raise _should("messages", "a valid list")
    if not raw:
        raise InvalidRequest("messages: at least one message is required")
    messages = _system(body.get("system")) + _messages(raw)

    options: dict[str, Any] = {"num_predict": max_tokens}
    for key in ("temperature", "top_p", "top_k"):  # unset: the model's own defaults, as Ollama does
        if body.get(key) is not None:
            options[key] = _option(key, body[key])
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _should("stop_sequences", "a valid list of strings")
        options["stop"] = [s for s in stop if s]
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _should("stream", "a valid boolean")
    tools = _tools(body.get("tools"))
    req = CompletionRequest(
        model=model, messages=messages, tools=tools, tool_choice=_tool_choice(body.get("tool_choice"), tools),
        options=options, think=_thinking(body.get("thinking"), body.get("output_config")),
        format=_format(body.get("output_config")),
    )
    return Parsed(req, stream)


def _system(value: Any) -> list[Message]:
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", value)] if value else []
    if not isinstance(value, list):
        raise _should("system", "a valid string or a list of text blocks")
    texts = []
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _should(f"system.{i}", "a text block")
        texts.append(_string(block.get("text"), f"system.{i}.text", required=True))
    text = "\n".join(t for t in texts if t)
    return [Message("system", text)] if text else []


def _messages(raw: list[Any]) -> list[Message]:
    out: list[Message] = []
    names: dict[str, str] = {}  # tool_use id -> tool name, for the tool_result blocks that answer them
    for i, m in enumerate(raw):
        where = f"messages.{i}"
        m = _object(m, where)
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise _should(f"{where}.role", "'user' or 'assistant'")
        content = m.get("content")
        if content is None:
            raise _missing(f"{where}.content")
        if isinstance(content, str):
            out.append(Message(role, content))
            continue
        if not isinstance(content, list):
            raise _should(f"{where}.content", "a valid string or a list of content blocks")
        out += _blocks(role, content, f"{where}.content", names)
    return out


def _blocks(role: str, blocks: list[Any], where: str, names: dict[str, str]) -> list[Message]:
    """One turn's blocks as native messages: tool results become ``tool`` messages (first, as Anthropic
    requires them to come first in a user turn), the rest one message of the turn's role."""
    texts: list[str] = []
    thinking: list[str] = []
    images: list[str] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for j, block in enumerate(blocks):
        at = f"{where}.{j}"
        block = _object(block, at)
        kind = block.get("type")
        if kind == "text":
            texts.append(_string(block.get("text"), f"{at}.text", required=True) or "")
        elif kind == "image":
            images.append(_image(block.get("source"), f"{at}.source"))
        elif kind == "tool_use":
            if role != "assistant":
                raise InvalidRequest(f"{at}: tool_use blocks belong in assistant turns")
            call_id = _string(block.get("id"), f"{at}.id", required=True) or ""
            name = _string(block.get("name"), f"{at}.name", required=True) or ""
            args = block.get("input", {})
            if not isinstance(args, dict):
                raise _should(f"{at}.input", "a valid dictionary")
            calls.append(ToolCall(name, args, id=call_id, index=len(calls)))
            names[call_id] = name
        elif kind == "tool_result":
            if role != "user":
                raise InvalidRequest(f"{at}: tool_result blocks belong in user turns")
            results.append(_tool_result(block, at, names))
        elif kind == "thinking":
            if role != "assistant":
                raise InvalidRequest(f"{at}: thinking blocks belong in assistant turns")
            thinking.append(_string(block.get("thinking"), f"{at}.thinking", required=True) or "")
        elif kind == "redacted_thinking":
            continue  # opaque by definition: there is nothing a local model could read in it
        else:
            if kind is None:
                raise _missing(f"{at}.type")
            raise InvalidRequest(f"{at}.type: content blocks of type {json.dumps(kind)} are not supported "
                                 f"(use {BLOCK_TYPES})")
    out = results
    if texts or images or calls or thinking or not results:
        out = [*results, Message(role, "\n".join(texts), thinking="\n".join(thinking), images=images,
                                 tool_calls=calls)]
    return out


def _image(source: Any, where: str) -> str:
    source = _object(source, where)
    kind = source.get("type")
    if kind == "url":
        raise InvalidRequest(f"{where}: image URLs are not supported, send the image as base64 data "
                             '(source type "base64")')
    if kind != "base64":
        raise _should(f"{where}.type", "'base64'")
    data = _string(source.get("data"), f"{where}.data", required=True) or ""
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{where}.data: the base64 data does not decode") from None
    return data


def _tool_result(block: dict[str, Any], at: str, names: dict[str, str]) -> Message:
    call_id = _string(block.get("tool_use_id"), f"{at}.tool_use_id", required=True) or ""
    if call_id not in names:
        raise InvalidRequest(f"{at}.tool_use_id: no earlier tool_use block has the id {json.dumps(call_id)}")
    content = block.get("content", "")
    if isinstance(content, list):
        parts = []
        for k, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise _should(f"{at}.content.{k}", "a text block (other tool result blocks are not supported)")
            parts.append(_string(part.get("text"), f"{at}.content.{k}.text", required=True) or "")
        content = "\n".join(parts)
    elif not isinstance(content, str):
        raise _should(f"{at}.content", "a valid string or a list of text blocks")
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool):
        raise _should(f"{at}.is_error", "a valid boolean")
    # Native tool messages carry no error flag; the model reads it in the text instead.
    return Message("tool", f"Error: {content}" if is_error else content, tool_name=names[call_id])


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _should("tools", "a valid list")
    tools = []
    for i, t in enumerate(value):
        at = f"tools.{i}"
        t = _object(t, at)
        kind = t.get("type")
        if kind not in (None, "custom"):
            raise InvalidRequest(f"{at}.type: server tools ({json.dumps(kind)}) are not supported, "
                                 "only custom tools with an input_schema")
        name = _string(t.get("name"), f"{at}.name", required=True)
        if not name:
            raise _missing(f"{at}.name")
        schema = t.get("input_schema")
        if schema is None:
            raise _missing(f"{at}.input_schema")
        fn: dict[str, Any] = {"name": name, "parameters": _object(schema, f"{at}.input_schema")}
        description = _string(t.get("description"), f"{at}.description")
        if description:
            fn["description"] = description
        tools.append({"type": "function", "function": fn})
    return tools


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> str | dict[str, Any]:
    if value is None:
        return "auto"
    value = _object(value, "tool_choice")
    kind = value.get("type")
    # disable_parallel_tool_use needs nothing: a local model makes its calls one after another anyway.
    if value.get("disable_parallel_tool_use") is not None and not isinstance(value["disable_parallel_tool_use"], bool):
        raise _should("tool_choice.disable_parallel_tool_use", "a valid boolean")
    if kind == "auto":
        return "auto"
    if kind == "none":
        return "none"
    if kind == "any":
        return "required"
    if kind == "tool":
        name = _string(value.get("name"), "tool_choice.name", required=True)
        if not name:
            raise _missing("tool_choice.name")
        return {"name": name}
    raise _should("tool_choice.type", "'auto', 'any', 'tool' or 'none'")


def _thinking(value: Any, output_config: Any) -> bool | str | None:
    if value is None:
        return None
    value = _object(value, "thinking")
    kind = value.get("type")
    if kind == "disabled":
        return False
    if kind == "enabled":
        budget = _integer(value.get("budget_tokens"), "thinking.budget_tokens", 1)
        if budget is None:
            raise _missing("thinking.budget_tokens")
        return next((level for limit, level in BUDGET_LEVELS if budget < limit), "high")
    if kind == "adaptive":
        effort = output_config.get("effort") if isinstance(output_config, dict) else None
        return EFFORT.get(effort, True) if isinstance(effort, str) else True
    raise _should("thinking.type", "'enabled', 'disabled' or 'adaptive'")


def _format(output_config: Any) -> Any:
    """``output_config.format`` (structured outputs) as the native JSON-schema format."""
    if output_config is None:
        return None
    fmt = _object(output_config, "output_config").get("format")
    if fmt is None:
        return None
    fmt = _object(fmt, "output_config.format")
    if fmt.get("type") != "json_schema":
        raise _should("output_config.format.type", "'json_schema'")
    return _object(fmt.get("schema"), "output_config.format.schema")


# ----------------------------------------------------------------------------- responses


def stop_reason(c: Chunk, had_calls: bool) -> tuple[str, str | None]:
    """Anthropic's stop_reason and stop_sequence for a final native chunk."""
    if had_calls:
        return "tool_use", None
    if c.done_reason == "length":
        return "max_tokens", None
    if c.stop_sequence:
        return "stop_sequence", c.stop_sequence
    return "end_turn", None


@dataclass
class MessageEncoder:
    """Native chunks as Anthropic's stream events, with block indexes, and (``complete``) as a Message.

    Blocks switch whenever the native stream switches between thinking, text and tool calls. Text
    that is only whitespace is held back until real text follows, so a stray space between blocks
    (say after a tool call) never opens a block of its own.
    """

    model: str
    id: str = field(default_factory=message_id)
    _started: bool = False
    _index: int = -1
    _open: str | None = None  # the kind of the block being streamed: "thinking", "text" or None
    _thinking: list[str] = field(default_factory=list)
    _held: str = ""
    _calls: int = 0

    def events(self, c: Chunk) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            # Prompt tokens are counted only at the end of a native stream: message_delta carries them.
            out += [{"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}},
                {"type": "ping"}]
        if c.thinking:
            out += self._switch("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            self._thinking.append(c.thinking)
            out.append(self._delta({"type": "thinking_delta", "thinking": c.thinking}))
        if c.content:
            text = self._held + c.content
            if self._open != "text" and not text.strip():
                self._held = text
            else:
                self._held = ""
                out += self._switch("text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}))
        for call in c.tool_calls:
            out += self._close()
            self._calls += 1
            call_id = call.id if call.id.startswith("toolu_") else tool_use_id()
            out += self._start({"type": "tool_use", "id": call_id, "name": call.name, "input": {}})
            out.append(self._delta({"type": "input_json_delta", "partial_json": _dumps(call.arguments)}))
            out += self._close()
        if c.done:
            out += self._close()
            reason, sequence = stop_reason(c, self._calls > 0)
            m = c.metrics
            usage = {"input_tokens": m.prompt_eval_count if m else 0, "output_tokens": m.eval_count if m else 0}
            out += [{"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence},
                     "usage": usage},
                    {"type": "message_stop"}]
        return out

    def _start(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        self._index += 1
        self._open = block["type"]
        return [{"type": "content_block_start", "index": self._index, "content_block": block}]

    def _switch(self, kind: str, block: dict[str, Any]) -> list[dict[str, Any]]:
        if self._open == kind:
            return []
        return self._close() + self._start(block)

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _close(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        out = []
        if self._open == "thinking":
            out.append(self._delta({"type": "signature_delta", "signature": signature("".join(self._thinking))}))
            self._thinking = []
        self._held = ""  # whitespace between blocks belongs to neither
        out.append({"type": "content_block_stop", "index": self._index})
        self._open = None
        return out

    def complete(self, chunks: list[Chunk]) -> dict[str, Any]:
        """The whole Message, folded from the same events a stream would carry."""
        return accumulate(e for c in chunks for e in self.events(c))


def accumulate(events: Any) -> dict[str, Any]:
    """Stream events folded into the Message they describe (as the SDK's ``get_final_message`` does)."""
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for e in events:
        kind = e["type"]
        if kind == "message_start":
            message = json.loads(_dumps(e["message"]))
        elif kind == "content_block_start":
            message["content"].append(dict(e["content_block"]))
        elif kind == "content_block_delta":
            block, d = message["content"][e["index"]], e["delta"]
            if d["type"] == "text_delta":
                block["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                block["thinking"] += d["thinking"]
            elif d["type"] == "signature_delta":
                block["signature"] = d["signature"]
            elif d["type"] == "input_json_delta":
                partial[e["index"]] = partial.get(e["index"], "") + d["partial_json"]
        elif kind == "content_block_stop" and e["index"] in partial:
            message["content"][e["index"]]["input"] = json.loads(partial.pop(e["index"]) or "{}")
        elif kind == "message_delta":
            message.update(e["delta"])
            message["usage"].update(e["usage"])
    return message

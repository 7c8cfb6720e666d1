"""``WS /ws/chat``: streamed chat over one WebSocket, several conversations at once (docs/websocket.md).

The protocol lives here, shared by both hosts; each host adds its own auth before the upgrade
(``server/extension.py``: Jupyter's token and authorizer; ``server/app.py``: Host, Origin and API
key), the way ``Route`` is combined with a host base.

Client frames: ``{"type": "chat", "id", "model", "messages", "options", "think", "format", "tools",
"tool_choice", "keep_alive"}`` (the body of Ollama's ``/api/chat``, read by the same parser),
``{"type": "cancel", "id"}``, ``{"type": "ping"}``. Server frames: ``token``, ``thinking``,
``tool_call``, ``done``, ``error``, ``pong``. Each chat runs as its own task, so the socket keeps
reading (cancels, pings, more chats) while tokens stream; closing the socket cancels every chat on
it, which stops the runners at their next token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import Any

from tornado.websocket import WebSocketClosedError

from ..core import ollama as wire
from ..core.errors import InvalidRequest, MullamaError
from ..core.manager import Manager
from ..core.native import Chunk, CompletionRequest

log = logging.getLogger("mullama_jupyter.server")

MAX_FRAME = 16 << 20  # the same bound as an HTTP body: a chat may carry base64 images
PING_INTERVAL = 30  # seconds between WebSocket-level pings (standalone; Jupyter has its own)
MAX_ID = 256
TYPES = ("chat", "cancel", "ping")
ROUTE = "ws.ChatSocket"  # the route label of WebSocket chats in the metrics
CANCELLED = 499  # the metrics status of a chat the client cancelled or abandoned (nginx's "client closed")

ChatId = str | int


class FrameError(Exception):
    def __init__(self, message: str, status: int = 400, id: ChatId | None = None):
        super().__init__(message)
        self.message, self.status, self.id = message, status, id


# ----------------------------------------------------------------------------- pure translation


def parse_frame(data: str | bytes) -> dict[str, Any]:
    """One client frame, checked: a JSON object with a known ``type`` and, for chat and cancel, an ``id``."""
    try:
        frame = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise FrameError(f"invalid JSON: {e}") from None
    if not isinstance(frame, dict):
        raise FrameError("invalid frame: expected a JSON object")
    cid = frame.get("id")
    valid_id = _valid_id(cid)
    kind = frame.get("type")
    if kind is None:
        raise FrameError('missing "type": expected "chat", "cancel" or "ping"', id=cid if valid_id else None)
    if kind not in TYPES:
        shown = json.dumps(kind)[:100]
        raise FrameError(f'unknown type {shown}: expected "chat", "cancel" or "ping"', id=cid if valid_id else None)
    if kind != "ping":
        if cid is None:
            raise FrameError(f'missing "id" in a {kind} frame')
        if not valid_id:
            raise FrameError(f'invalid value for "id": expected a non-empty string (at most {MAX_ID} characters) '
                             "or an integer")
    return frame


def _valid_id(cid: Any) -> bool:
    if isinstance(cid, bool):
        return False
    return isinstance(cid, int) or (isinstance(cid, str) and 0 < len(cid) <= MAX_ID)


def chat_request(frame: dict[str, Any]) -> CompletionRequest:
    """A chat frame as the native request: Ollama's ``/api/chat`` body plus ``type`` and ``id``."""
    body = {k: v for k, v in frame.items() if k not in ("type", "id", "stream")}
    req = wire.parse_chat(body)
    if not req.model:
        raise InvalidRequest("model is required")
    if req.debug_render_only:
        raise InvalidRequest('"_debug_render_only" is not supported on /ws/chat; use POST /api/chat')
    return req


def chunk_frames(cid: ChatId, chunk: Chunk) -> list[dict[str, Any]]:
    """The server frames one native chunk becomes."""
    out: list[dict[str, Any]] = []
    if chunk.thinking:
        out.append({"type": "thinking", "id": cid, "content": chunk.thinking})
    if chunk.content or chunk.logprobs:
        token: dict[str, Any] = {"type": "token", "id": cid, "content": chunk.content}
        if chunk.logprobs:
            token["logprobs"] = wire.logprob_entries(chunk.logprobs)
        out.append(token)
    for call in chunk.tool_calls:
        out.append({"type": "tool_call", "id": cid,
                    "call": {"id": call.id, "name": call.name, "arguments": call.arguments}})
    if chunk.done:
        done: dict[str, Any] = {"type": "done", "id": cid, "done_reason": chunk.done_reason or "stop"}
        if chunk.stop_sequence:
            done["stop_sequence"] = chunk.stop_sequence
        if chunk.metrics is not None:
            done.update({k: int(v) for k, v in dataclasses.asdict(chunk.metrics).items()})
        out.append(done)
    return out


def error_frame(cid: ChatId | None, status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "id": cid, "message": message, "status": status}


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


# ----------------------------------------------------------------------------- the socket


class ChatProtocol:
    """The ``/ws/chat`` behaviour, mixed in before a host's ``WebSocketHandler`` subclass."""

    settings: dict[str, Any]
    _chats: dict[ChatId, asyncio.Task[None]]

    @property
    def manager(self) -> Manager:
        return self.settings["mullama_manager"]

    @property
    def max_message_size(self) -> int:
        return int(self.settings.get("mullama_ws_max_message", MAX_FRAME))

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self._chats = {}
        return super().open(*args, **kwargs)  # type: ignore[misc]

    def on_message(self, message: str | bytes) -> None:
        # Never awaits: tornado reads the next frame only once this returns, and a cancel must get through.
        try:
            frame = parse_frame(message)
        except FrameError as e:
            self._post(error_frame(e.id, e.status, e.message))
            return
        kind, cid = frame["type"], frame.get("id")
        if kind == "ping":
            self._post({"type": "pong", "id": cid} if _valid_id(cid) else {"type": "pong"})
        elif kind == "cancel":
            task = self._chats.get(cid)
            if task is None:
                self._post(error_frame(cid, 404, f"no chat in progress with id {json.dumps(cid)}"))
            else:
                task.cancel()
        elif cid in self._chats:
            self._post(error_frame(cid, 409, f"a chat with id {json.dumps(cid)} is still in progress; "
                                              "wait for its done frame or cancel it"))
        else:
            try:
                req = chat_request(frame)
            except MullamaError as e:
                self._post(error_frame(cid, e.status, e.message))
                return
            task = self._chats[cid] = asyncio.ensure_future(self._chat(cid, req))
            task.add_done_callback(lambda t: self._cancelled_early(cid, t))

    def on_close(self) -> None:
        for task in list(getattr(self, "_chats", {}).values()):
            task.cancel()

    def _cancelled_early(self, cid: ChatId, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never runs its body (``_chat`` handles every later cancel).
        if task.cancelled() and self._chats.get(cid) is task:
            del self._chats[cid]
            self._post({"type": "done", "id": cid, "done_reason": "cancelled"})

    async def _chat(self, cid: ChatId, req: CompletionRequest) -> None:
        metrics, started, status = self.manager.metrics, time.perf_counter(), 200
        last: dict[str, Any] | None = None
        metrics.request_started(ROUTE)
        chunks = self.manager.complete(req)
        try:
            async for chunk in chunks:
                for frame in chunk_frames(cid, chunk):
                    if frame["type"] == "done":
                        last = frame  # sent once the id is free again, so the client may reuse it at once
                    else:
                        await self._send(frame)
        except asyncio.CancelledError:
            status, last = CANCELLED, {"type": "done", "id": cid, "done_reason": "cancelled"}
        except WebSocketClosedError:
            status = CANCELLED
        except MullamaError as e:
            status, last = e.status, error_frame(cid, e.status, e.message)
        except Exception:
            log.exception("unexpected error in a /ws/chat conversation")
            status, last = 500, error_frame(cid, 500, "internal server error")
        finally:
            await chunks.aclose()  # a generation left mid-stream stops its runner here
            self._chats.pop(cid, None)
            metrics.request_finished(ROUTE, "WS", status, time.perf_counter() - started)
        if last is not None:
            try:
                await self._send(last)
            except WebSocketClosedError:
                pass

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.write_message(_dumps(frame))  # type: ignore[attr-defined]

    def _post(self, frame: dict[str, Any]) -> None:
        """Send without waiting (from ``on_message``); a socket closed meanwhile is no error."""
        try:
            fut = self.write_message(_dumps(frame))  # type: ignore[attr-defined]
        except WebSocketClosedError:
            return
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())

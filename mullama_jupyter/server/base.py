"""What every route shares, whichever server hosts it: JSON in, JSON or a stream out, errors mapped.

Route classes (``server/ollama.py`` and the other families) subclass ``Route`` and implement
``handle_get`` / ``handle_post`` / ``handle_delete`` / ``handle_head``. The Jupyter extension and
the standalone app each combine them with their own base class (auth, host checks), so one route
table serves both places.

Streams follow Ollama's rule: until the first byte is written an error is a real status with a JSON
body; after that it is one last ``{"error": ...}`` line. A client that goes away cancels the work
(the runner stops at its next token and the model's queue moves on).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, AsyncIterator, Callable, TypeVar

from tornado.iostream import StreamClosedError
from tornado.web import HTTPError, RequestHandler

from ..core.errors import InvalidRequest, MullamaError
from ..core.ollama import progress as encode
from ..core.manager import Manager

log = logging.getLogger("mullama_jupyter.server")

T = TypeVar("T")
NDJSON = "application/x-ndjson"
JSON = "application/json; charset=utf-8"
_END = object()


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Route(RequestHandler):
    """Behaviour of one route; the hosting base class supplies auth and ``finish_as``."""

    _pump: asyncio.Future[Any] | None = None
    route_label = ""  # "family.Class", set by routes.bind: openai.Models and manage.Models are two routes

    @property
    def manager(self) -> Manager:
        return self.settings["mullama_manager"]

    async def after_auth(self) -> None:
        """Called by the hosting base once the request is authenticated, before any body is read
        (routes that stream their body, like blob uploads, start here)."""

    # Overridden by the Jupyter base, whose APIHandler.finish insists on setting the content type.
    def finish_as(self, content_type: str, chunk: str | bytes | None = None) -> Any:
        self.set_header("Content-Type", content_type)
        return self.finish(chunk)

    # ----------------------------------------------------------------- dispatch

    async def dispatch(self, method: str, *args: str) -> None:
        fn = getattr(self, f"handle_{method}", None)
        if fn is None:
            self.send_error_json(405, "method not allowed")
            return
        self._pump = asyncio.ensure_future(fn(*args))
        metrics, started = self.manager.metrics, time.perf_counter()
        route = self.route_label or type(self).__name__
        metrics.request_started(route)
        try:
            await self._pump
        except asyncio.CancelledError:
            pass  # the client went away; there is nobody to answer
        except StreamClosedError:
            pass
        except MullamaError as e:
            self.send_error_json(e.status, e.message)
        except HTTPError:
            raise
        except Exception:
            log.exception("unexpected error in %s %s", self.request.method, self.request.path)
            self.send_error_json(500, "internal server error")
        finally:
            self._pump = None
            metrics.request_finished(route, self.request.method or "", self.get_status(),
                                     time.perf_counter() - started)

    def on_connection_close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()

    # ----------------------------------------------------------------- bodies

    def read_json(self) -> dict[str, Any]:
        body = self.request.body
        if not body or not body.strip():
            raise InvalidRequest("missing request body")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"invalid JSON: {e}") from None
        if not isinstance(data, dict):
            raise InvalidRequest("invalid JSON: the body must be an object")
        return data

    def send_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish_as(JSON, dumps(obj))

    def send_empty(self, status: int = 200) -> None:
        self.set_status(status)
        self.finish_as(JSON, b"")

    # The error envelope of the family; the Ollama one by default. Other families override.
    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def send_error_json(self, status: int, message: str) -> None:
        if self._finished:
            return
        if self._headers_written:
            # Mid-stream: the status is gone already; the error is the stream's last event.
            try:
                self.write(self.stream_error(status, message))
                self.finish_as(self._headers.get("Content-Type", NDJSON))
            except StreamClosedError:
                pass
            return
        self.clear_header("Content-Type")
        self.set_status(status)
        self.finish_as(JSON, dumps(self.error_body(status, message)))

    def stream_error(self, status: int, message: str) -> str:
        """The last event of a stream that failed after its first byte; families override it."""
        return dumps(self.error_body(status, message)) + "\n"

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, HTTPError) and exc.log_message:
            message = exc.log_message
        else:
            message = self._reason.lower() if self._reason else "error"
        self.finish_as(JSON, dumps(self.error_body(status_code, message)))

    # ----------------------------------------------------------------- streams

    async def answer_progress(self, progress: AsyncIterator[Any], stream: bool) -> None:
        """Pull and create: every step as NDJSON, or (``stream:false``) only the last one."""
        if stream:
            await self.stream_lines(progress, encode)
            return
        last = None
        async for p in progress:
            last = p
        self.send_json(encode(last) if last else {"status": "success"})

    async def stream_lines(self, items: AsyncIterator[T], encode: Callable[[T], Any],
                           content_type: str = NDJSON) -> None:
        """Write each item as one JSON line (NDJSON), flushing as it comes."""
        await self.stream_events(items, lambda item: dumps(encode(item)) + "\n", content_type)

    async def stream_events(self, items: AsyncIterator[T], encode: Callable[[T], str | None],
                            content_type: str, end: str = "") -> None:
        """Write each item as ``encode`` renders it (None skips it), flushing as it comes, then ``end``.

        Errors follow the module docstring: before the first byte a real status and the family's
        JSON envelope; after it, ``stream_error``'s event.
        """
        it = items.__aiter__()
        try:
            first = await anext(it, _END)  # errors here still get a real status
            self.set_status(200)
            self.set_header("Content-Type", content_type)
            self.set_header("Cache-Control", "no-cache")
            item = first
            while item is not _END:
                text = encode(item)  # type: ignore[arg-type]
                if text:
                    self.write(text)
                    await self.flush()
                item = await anext(it, _END)
        except MullamaError as e:
            if not self._headers_written:
                raise
            self.send_error_json(e.status, e.message)
            return
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()
        if end:
            self.write(end)
        self.finish_as(content_type)

"""``mullama serve``: the same routes on a Tornado server of their own.

Secure by default: binds 127.0.0.1; rejects Host headers that are not this machine (DNS
rebinding); answers 403 to browser Origins that are not local or configured; takes an optional API
key (``Authorization: Bearer`` or ``x-api-key``), which a non-loopback bind requires.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import signal
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.web
import tornado.websocket
from tornado.httputil import HTTPServerRequest

from ..core.errors import MullamaError
from ..core.manager import Manager
from .base import JSON, Route, dumps
from .routes import bind
from .ws import PING_INTERVAL, ChatProtocol

log = logging.getLogger("mullama_jupyter.server")

MAX_BODY = 16 << 20  # JSON bodies; blob uploads will stream


@dataclass
class Security:
    api_key: str | None = None
    host_check: bool = True  # off only when bound to a public address (then the key guards)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    bind_host: str = "127.0.0.1"
    hostname: str = field(default_factory=lambda: socket.gethostname().lower())


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_only(netloc: str) -> str:
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def host_allowed(host_header: str, sec: Security) -> bool:
    """Ollama's rule for a loopback listener: only names that can only mean this machine."""
    host = _host_only(host_header)
    if not host or host in sec.allowed_hosts or host in ("localhost", sec.hostname, sec.bind_host.lower()):
        return True
    if host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


def origin_allowed(origin: str, sec: Security) -> bool:
    if origin in sec.allowed_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return parts.scheme in ("app", "file", "tauri", "vscode-webview", "vscode-file")
    return (parts.hostname or "") in ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def refusal(request: HTTPServerRequest, sec: Security, *, query_key: bool = False) -> tuple[int, str] | None:
    """Why a request must be refused, as (status, message), or None: the Host, Origin and API-key checks
    in front of every route and of the WebSocket (``query_key``: browsers cannot set headers on a
    WebSocket, so there the key may also come as ``?token=``)."""
    if sec.host_check and not host_allowed(request.host or "", sec):
        log.warning("rejected Host header %r", (request.host or "")[:100].encode("unicode_escape").decode())
        return 403, "forbidden: unknown host"
    origin = request.headers.get("Origin")
    if origin and not origin_allowed(origin, sec):
        return 403, "forbidden: origin not allowed"
    if sec.api_key and request.method != "OPTIONS" and not key_ok(request, sec.api_key, query_key):
        return 401, "unauthorized"
    return None


def key_ok(request: HTTPServerRequest, key: str, query_key: bool = False) -> bool:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    given = value.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key", "")
    if not given and query_key:
        given = (request.query_arguments.get("token") or [b""])[-1].decode("utf-8", "replace")
    return bool(given) and hmac.compare_digest(given.encode(), key.encode())


class StandaloneRoute(Route):
    """Host, Origin and API-key checks before any route runs."""

    @property
    def security(self) -> Security:
        return self.settings["mullama_security"]

    async def prepare(self) -> None:  # type: ignore[override]
        origin = self.request.headers.get("Origin")
        if origin and origin_allowed(origin, self.security):  # also on a 401, so the page can read it
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Vary", "Origin")
        refused = refusal(self.request, self.security)
        if refused is not None:
            self.send_error_json(*refused)
            return
        if self.request.method != "OPTIONS":
            await self.after_auth()

    def options(self, *args: str) -> None:
        self.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS")
        self.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, x-api-key")
        self.set_status(204)
        self.finish()

    async def get(self, *args: str) -> None:
        await self.dispatch("get", *args)

    async def head(self, *args: str) -> None:
        await self.dispatch("head", *args)

    async def post(self, *args: str) -> None:
        await self.dispatch("post", *args)

    async def delete(self, *args: str) -> None:
        await self.dispatch("delete", *args)


class StandaloneChatSocket(ChatProtocol, tornado.websocket.WebSocketHandler):
    """``/ws/chat`` behind the same checks as every route, refused before the upgrade."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        refused = refusal(self.request, self.settings["mullama_security"], query_key=True)
        if refused is not None:
            self.set_status(refused[0])
            self.set_header("Content-Type", JSON)
            self.finish(dumps({"error": refused[1]}))
            return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        return origin_allowed(origin, self.settings["mullama_security"])  # refusal() has the final word anyway


class NotFound(StandaloneRoute):
    async def handle_get(self, *args: str) -> None:
        self.send_error_json(404, "404 page not found")

    handle_post = handle_delete = handle_head = handle_get


def make_app(manager: Manager, security: Security | None = None) -> tornado.web.Application:
    return tornado.web.Application(
        [*bind(StandaloneRoute), (r"/ws/chat", StandaloneChatSocket)],
        default_handler_class=NotFound,
        mullama_manager=manager,
        mullama_security=security or Security(),
        mullama_runs_in="standalone",
        websocket_ping_interval=PING_INTERVAL,
    )


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to serve the API unauthenticated to the network."""
    if not is_loopback(host) and not api_key:
        raise MullamaError(
            f"refusing to listen on {host} without an API key",
            hint="set --api-key (or MULLAMA_API_KEY), or bind 127.0.0.1",
        )


async def serve(manager: Manager, host: str = "127.0.0.1", port: int = 8080, *,
                api_key: str | None = None, allowed_origins: tuple[str, ...] = (),
                ready: Any = None) -> None:
    """Serve until SIGINT/SIGTERM; stop every runner on the way out."""
    check_bind(host, api_key)
    security = Security(api_key=api_key, host_check=is_loopback(host), allowed_origins=allowed_origins,
                        bind_host=host)
    await manager.start()
    server = tornado.httpserver.HTTPServer(make_app(manager, security), max_body_size=MAX_BODY,
                                           idle_connection_timeout=300)
    server.listen(port, address=host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    if ready is not None:
        ready(server)
    try:
        await stop.wait()
    finally:
        server.stop()
        await manager.stop()

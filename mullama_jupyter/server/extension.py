"""The Jupyter server extension: the manager inside Jupyter, every route behind Jupyter's auth.

Routes live below ``{base_url}mullama/`` (never at ``{base_url}api/``, which is Jupyter's own). When
the server starts, the extension exports ``MULLAMA_HOST`` (its URL, base_url included) and
``MULLAMA_TOKEN`` into the server's environment, so kernels started from then on reach it. When the
server stops, every runner stops with it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.websocket import WebSocketHandler
from traitlets import Bool, Dict, Enum, Float, Integer, List, TraitError, Unicode, validate

from ..core.durations import parse_keep_alive_setting
from ..core.errors import MullamaError
from ..core.manager import Manager, ManagerConfig
from ..core.store import Store
from .base import Route
from .routes import bind
from .ws import ChatProtocol

PREFIX = "mullama"


class JupyterRoute(ExtensionHandlerMixin, APIHandler):
    """Jupyter's auth (token or cookie + XSRF) in front of every route and method."""

    auth_resource = "mullama"
    write_error = Route.write_error  # the family's JSON envelope, not APIHandler's

    def finish_as(self, content_type: str, chunk: Any = None) -> Any:
        return self.finish(chunk, set_content_type=content_type)

    async def prepare(self) -> None:  # type: ignore[override]
        # Anthropic's SDK sends its key as x-api-key, which Jupyter does not read. Offer it to Jupyter's
        # own token check as an Authorization header; Jupyter still decides whether it is valid.
        key = self.request.headers.get("x-api-key")
        if key and "Authorization" not in self.request.headers:
            self.request.headers["Authorization"] = f"token {key}"
        await super().prepare()  # Jupyter's checks: host, identity, XSRF
        if self._finished or self.request.method == "OPTIONS":
            return
        # Refuse before a streamed body is read: @web.authenticated on the method would only run after it.
        if self.current_user is None:
            raise web.HTTPError(403)
        await self.after_auth()

    @web.authenticated
    @authorized
    async def get(self, *args: str) -> None:
        await self.dispatch("get", *args)

    @web.authenticated
    @authorized
    async def head(self, *args: str) -> None:
        await self.dispatch("head", *args)

    @web.authenticated
    @authorized
    async def post(self, *args: str) -> None:
        await self.dispatch("post", *args)

    @web.authenticated
    @authorized
    async def delete(self, *args: str) -> None:
        await self.dispatch("delete", *args)


class JupyterChatSocket(ChatProtocol, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """``/ws/chat`` behind Jupyter's auth, checked before the upgrade as for kernel sockets: the token
    comes as ``?token=`` (browsers) or an Authorization header; a refusal is a 403, never an open socket."""

    auth_resource = "mullama"

    def set_default_headers(self) -> None:
        pass  # JupyterHandler's headers (CSP, ...) mean nothing to a socket

    def get_compression_options(self) -> Any:
        return self.settings.get("websocket_compression_options", None)

    async def pre_get(self) -> None:
        # The same permission as POST /api/chat (a chat writes nothing, but it spends the server's CPU).
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "write", self.auth_resource)):
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.pre_get()
        await super().get(*args, **kwargs)


class MullamaExtension(ExtensionApp):
    """Ollama-style local models inside Jupyter."""

    name = "mullama_jupyter"
    load_other_extensions = True

    models_dir = Unicode(
        "", config=True,
        help="Model store directory. Empty: $MULLAMA_CACHE_DIR, else $XDG_CACHE_HOME/mullama/models "
             "(~/.cache/mullama/models).",
    )
    keep_alive = Unicode(
        "5m", config=True,
        help="How long a model stays loaded after its last request: a Go duration ('5m', '1h30m') or "
             "seconds ('300'); '0' unloads at once, a negative value ('-1') keeps it forever. "
             "Requests may override it.",
    )
    max_loaded_models = Integer(3, config=True, help="Most models loaded at once; the least recently used goes first.")
    max_queue = Integer(512, config=True, help="Requests that may wait per model before new ones get 503 'server busy'.")
    num_ctx = Integer(4096, config=True, help="Default context window in tokens (capped by each model's training length).")
    num_thread = Integer(0, config=True, help="Threads per runner; 0 means the machine's physical cores.")
    engine = Enum(["llama", "echo"], "llama", config=True,
                  help="Runner engine: 'llama' (llama.cpp), or 'echo', a deterministic stand-in for tests.")
    engine_options = Dict(config=True, help="Options passed to the engine (the echo engine takes 'delay' in seconds).")
    alias_files = List(Unicode(), config=True,
                       help="Extra alias TOML files, on top of the shipped table (also $MULLAMA_ALIASES, ':'-separated).")
    auto_pull = Bool(False, config=True,
                     help="Pull a known model (alias or hf: spec) that a request names but the store lacks, "
                          "instead of answering 404.")
    ollama_models = Unicode(
        "", config=True,
        help="An Ollama model store whose models are listed and run in place (read-only). Empty: "
             "$OLLAMA_MODELS, else ~/.ollama/models when it exists; 'none' turns it off.",
    )
    load_timeout = Float(600.0, config=True, help="Seconds a model may take to load before the request fails.")
    stream_interval = Float(
        0.025, config=True,
        help="Seconds over which generated tokens are gathered into one streamed chunk (the first goes at "
             "once). Fewer, slightly larger chunks leave more CPU to the model; 0 sends every token alone.",
    )
    export_env = Bool(True, config=True, help="Export MULLAMA_HOST and MULLAMA_TOKEN so kernels find this server.")

    @validate("keep_alive")
    def _valid_keep_alive(self, proposal: Any) -> str:
        try:
            parse_keep_alive_setting(proposal["value"])
        except MullamaError as e:
            raise TraitError(f"keep_alive: {e}") from None
        return proposal["value"]

    def initialize_settings(self) -> None:
        t0 = time.perf_counter()
        config = ManagerConfig(
            keep_alive=parse_keep_alive_setting(self.keep_alive),
            max_loaded=self.max_loaded_models,
            max_queue=self.max_queue,
            num_ctx=self.num_ctx,
            num_thread=self.num_thread,
            engine=self.engine,
            engine_options=dict(self.engine_options),
            load_timeout=self.load_timeout,
            alias_files=tuple(self.alias_files),
            stream_interval=self.stream_interval,
            auto_pull=self.auto_pull,
        )
        ollama = False if self.ollama_models.strip().lower() == "none" else (self.ollama_models or None)
        self.manager = Manager(Store(self.models_dir or None, ollama=ollama), config)
        self.settings["mullama_manager"] = self.manager
        self.settings["mullama_runs_in"] = "jupyter"
        self.log.info("mullama: model store %s (initialised in %.0f ms)", self.manager.store.root,
                      (time.perf_counter() - t0) * 1000)

    def initialize_handlers(self) -> None:
        self.handlers.extend(bind(JupyterRoute, PREFIX))
        self.handlers.append((PREFIX + "/ws/chat", JupyterChatSocket))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.manager.start()
        if self.export_env:
            url = serverapp.connection_url.rstrip("/") + "/" + PREFIX
            os.environ["MULLAMA_HOST"] = url
            token = getattr(serverapp.identity_provider, "token", "") or ""
            if token:
                os.environ["MULLAMA_TOKEN"] = token
            self.log.info("mullama: Ollama-compatible API at %s", url)

    async def stop_extension(self) -> None:
        # Jupyter halts if this raises: log and carry on.
        try:
            await self.manager.stop()
        except Exception:  # noqa: BLE001
            self.log.exception("mullama: stopping runners failed")

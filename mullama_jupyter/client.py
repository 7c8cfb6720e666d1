"""One Python API over either transport: HTTP (to the Jupyter extension or ``mullama serve``) or a
manager embedded in this process.

``Client()`` resolves, in order: explicit arguments → ``MULLAMA_HOST``/``MULLAMA_TOKEN`` (the
Jupyter extension exports them to its kernels) → a ``mullama serve`` answering on 127.0.0.1:8080 →
a running Jupyter server with the extension, found through its runtime files → an embedded manager
on the same model store. ``Client.status()`` says which one is in use.

Management calls return the Ollama wire shapes (dicts), whatever the transport; generation returns a
``Response``: a lazy, replayable stream of native ``Chunk`` objects.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable, Iterator

from .core import ollama as wire
from .core.errors import (
    InvalidRequest,
    ModelNotFound,
    MullamaError,
    ServerBusy,
    Unreachable,
)
from .core.manager import Manager, ManagerConfig
from .core.native import Chunk, EmbedResult, Message, Metrics, Progress
from .core.store import Store
from .runner.protocol import unpack_vector

DEFAULT_HOST = "http://127.0.0.1:8080"
PROBE_TIMEOUT = 0.5


# ----------------------------------------------------------------------------- the stream


class Response:
    """A generation, read lazily: iterate for chunks as they arrive, ``text()`` for all of it.

    It caches what it has read, so a second iteration replays instead of generating again.
    """

    def __init__(self, chunks: Iterator[Chunk], model: str):
        self.model = model
        self._source: Iterator[Chunk] | None = chunks
        self._chunks: list[Chunk] = []

    def __iter__(self) -> Iterator[Chunk]:
        yield from self._chunks
        while self._source is not None:
            try:
                chunk = next(self._source)
            except StopIteration:
                self._source = None
                return
            self._chunks.append(chunk)
            yield chunk

    def text(self) -> str:
        return "".join(c.content for c in self)

    def close(self) -> None:
        """Stop generating (the runner stops at its next token)."""
        if self._source is not None:
            close = getattr(self._source, "close", None)
            if close:
                close()
            self._source = None

    @property
    def done(self) -> bool:
        return bool(self._chunks) and self._chunks[-1].done

    @property
    def final(self) -> Chunk | None:
        for _ in self:
            pass
        return self._chunks[-1] if self._chunks else None

    @property
    def metrics(self) -> Metrics | None:
        final = self.final
        return final.metrics if final else None

    @property
    def done_reason(self) -> str | None:
        final = self.final
        return final.done_reason if final else None

    def __repr__(self) -> str:
        state = "done" if self.done else "streaming"
        return f"<Response {self.model} {state}, {sum(len(c.content) for c in self._chunks)} chars>"


# ----------------------------------------------------------------------------- transports


class _Http:
    def __init__(self, url: str, token: str | None, timeout: float | None):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)  # noqa: S310 - our own server
        except urllib.error.HTTPError as e:
            raise _http_error(e, self.url) from None
        except (urllib.error.URLError, OSError) as e:
            raise Unreachable(f"cannot reach mullama at {self.url}: {getattr(e, 'reason', e)}",
                              hint="start it with: mullama serve, or unset MULLAMA_HOST") from None

    def json(self, method: str, path: str, body: Any = None) -> Any:
        with self._request(method, path, body) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def lines(self, path: str, body: Any) -> Iterator[dict[str, Any]]:
        resp = self._request("POST", path, body)
        try:
            for line in resp:
                if not line.strip():
                    continue
                d = json.loads(line)
                if "error" in d:
                    raise MullamaError(str(d["error"]))
                yield d
        finally:
            resp.close()  # closing early tells the server to stop generating


def _http_error(e: urllib.error.HTTPError, url: str) -> MullamaError:
    try:
        with e:
            message = json.loads(e.read() or b"{}").get("error") or e.reason
    except (ValueError, AttributeError):
        message = str(e.reason)
    if isinstance(message, dict):  # OpenAI/Anthropic envelopes
        message = message.get("message", str(message))
    if e.code == 403:
        return MullamaError(f"{url} refused the request (403 Forbidden)", hint="check MULLAMA_TOKEN")
    cls = {400: InvalidRequest, 404: ModelNotFound, 503: ServerBusy}.get(e.code)
    if cls is ModelNotFound:
        err: MullamaError = ModelNotFound("", str(message))
        err.hint = None
        return err
    if cls is not None:
        return cls(str(message))
    err = MullamaError(str(message))
    err.status = e.code
    return err


class _Embedded:
    """A manager on a private event loop in a daemon thread, shared by every embedded client of the
    same store in this process (so models loaded in one notebook cell stay loaded for the next)."""

    _instances: dict[str, "_Embedded"] = {}
    _lock = threading.Lock()

    @classmethod
    def get(cls, store_dir: str | None, config: ManagerConfig | None) -> "_Embedded":
        key = str(Store(store_dir).root)
        with cls._lock:
            inst = cls._instances.get(key)
            if inst is None:
                inst = cls._instances[key] = cls(Store(store_dir), config or ManagerConfig())
            return inst

    def __init__(self, store: Store, config: ManagerConfig):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mullama-embedded", daemon=True)
        self.thread.start()
        self.manager: Manager = self.call(self._make(store, config))
        atexit.register(self.shutdown)

    @staticmethod
    async def _make(store: Store, config: ManagerConfig) -> Manager:
        manager = Manager(store, config)
        await manager.start()
        return manager

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stream(self, make: Callable[[], AsyncIterator[Any]]) -> Iterator[Any]:
        """Iterate an async generator of the manager from synchronous code."""
        items: queue.Queue[Any] = queue.Queue()
        done = object()

        async def pump() -> None:
            try:
                async for item in make():
                    items.put(item)
                items.put(done)
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer thread
                items.put(e)

        fut: Future[None] = asyncio.run_coroutine_threadsafe(pump(), self.loop)
        try:
            while (item := items.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not fut.done():
                fut.cancel()  # the consumer stopped early: cancel the generation

    def shutdown(self) -> None:
        """Stop the runners, then the loop. Idempotent; also registered with atexit."""
        if self.loop.is_closed():
            return
        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self.manager.stop(), self.loop).result(timeout=10)
            except Exception:  # noqa: BLE001 - best effort at exit; runners also exit when our pipes close
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


# ----------------------------------------------------------------------------- discovery


def _probe(url: str, token: str | None) -> bool:
    try:
        data = _Http(url, token, PROBE_TIMEOUT).json("GET", "/api/version")
    except MullamaError:
        return False
    return isinstance(data, dict) and "mullama" in data


def _jupyter_servers() -> Iterator[tuple[str, str | None]]:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return
    try:
        for info in list_running_servers():
            yield info["url"].rstrip("/") + "/mullama", info.get("token") or None
    except Exception:  # noqa: BLE001 - a stale or unreadable runtime file is not our business
        return


def discover() -> tuple[str, str | None] | None:
    host = os.environ.get("MULLAMA_HOST")
    token = os.environ.get("MULLAMA_TOKEN") or None
    if host:
        if not host.startswith(("http://", "https://")):
            host = "http://" + host
        if _probe(host, token):
            return host, token
    if _probe(DEFAULT_HOST, token):
        return DEFAULT_HOST, token
    for url, tok in _jupyter_servers():
        if _probe(url, tok):
            return url, tok
    return None


# ----------------------------------------------------------------------------- the client


class Client:
    def __init__(self, host: str | None = None, token: str | None = None, *, embedded: bool = False,
                 models_dir: str | None = None, config: ManagerConfig | None = None,
                 timeout: float | None = None):
        self._http: _Http | None = None
        self._embedded: _Embedded | None = None
        if host:
            self._http = _Http(host, token if token is not None else os.environ.get("MULLAMA_TOKEN"), timeout)
        elif not embedded and (found := discover()) is not None:
            self._http = _Http(found[0], token or found[1], timeout)
        else:
            self._embedded = _Embedded.get(models_dir, config)

    @property
    def mode(self) -> str:
        return "http" if self._http else "embedded"

    def status(self) -> dict[str, Any]:
        if self._http:
            parts = urllib.parse.urlsplit(self._http.url)
            # Under Jupyter the routes hang below {base_url}mullama; report Jupyter's base_url.
            path = parts.path.rstrip("/")
            base_url = (path[: -len("/mullama")] if path.endswith("/mullama") else path) + "/"
            version = self._http.json("GET", "/api/version")
            try:  # which host runs the manager: "jupyter" (the extension) or "standalone" (mullama serve)
                runs_in = self._http.json("GET", "/api/system/status").get("host", "")
            except MullamaError:
                runs_in = ""
            return {"mode": "http", "url": self._http.url, "scheme": parts.scheme, "host": parts.hostname,
                    "port": parts.port or (443 if parts.scheme == "https" else 80),
                    "base_url": base_url, "version": version, "runs_in": runs_in}
        assert self._embedded is not None
        m = self._embedded.manager
        return {"mode": "embedded", "store": str(m.store.root), "engine": m.config.engine}

    def describe(self) -> str:
        s = self.status()
        if s["mode"] == "http":
            kind = {"jupyter": "the Jupyter server's extension", "standalone": "mullama serve"}.get(s["runs_in"])
            where = f"{kind}; " if kind else ""
            return (f"server at {s['url']} ({where}scheme {s['scheme']}, host {s['host']}, port {s['port']}, "
                    f"base_url {s['base_url']})")
        return f"embedded manager, model store {s['store']}"

    # ------------------------------------------------------------------- management

    def list(self) -> dict[str, Any]:
        if self._http:
            return self._http.json("GET", "/api/tags")
        return wire.tags(self._call(self._manager.list()))

    def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        if self._http:
            return self._http.json("POST", "/api/show", {"model": model, "verbose": verbose})
        m = self._manager

        async def work() -> dict[str, Any]:
            record = await m.resolve(model)
            return wire.show(record, await m.gguf(record), verbose)

        return self._call(work())

    def ps(self) -> dict[str, Any]:
        if self._http:
            return self._http.json("GET", "/api/ps")
        return wire.ps(self._call(self._manager.ps()))

    def copy(self, source: str, destination: str) -> None:
        if self._http:
            self._http.json("POST", "/api/copy", {"source": source, "destination": destination})
        else:
            self._call(self._manager.copy(source, destination))

    def delete(self, model: str) -> None:
        if self._http:
            self._http.json("DELETE", "/api/delete", {"model": model})
        else:
            self._call(self._manager.delete(model))

    def pull(self, spec: str, digest: str | None = None) -> Iterator[Progress]:
        if self._http:
            body = {"model": spec, "stream": True, **({"digest": digest} if digest else {})}
            return (wire.progress_from_wire(d) for d in self._http.lines("/api/pull", body))
        assert self._embedded is not None
        return self._embedded.stream(lambda: self._manager.pull(spec, digest=digest))

    def create_blob(self, path: str | os.PathLike[str]) -> str:
        """Upload a local file (HEAD first: a blob the server has is not sent again); its digest."""
        path = Path(path)
        if self._http is None:
            return self._call(asyncio.to_thread(self._manager.store.import_blob, path))
        digest = "sha256:" + _sha256_file(path)
        try:
            with self._http._request("HEAD", f"/api/blobs/{digest}"):
                return digest
        except ModelNotFound:
            pass
        with open(path, "rb") as f:
            req = urllib.request.Request(self._http.url + f"/api/blobs/{digest}", data=f, method="POST")
            req.add_header("Content-Length", str(path.stat().st_size))
            req.add_header("Content-Type", "application/octet-stream")
            if self._http.token:
                req.add_header("Authorization", f"Bearer {self._http.token}")
            try:
                urllib.request.urlopen(req, timeout=self._http.timeout).close()  # noqa: S310 - our own server
            except urllib.error.HTTPError as e:
                raise _http_error(e, self._http.url) from None
        return digest

    def create(self, name: str, modelfile: str | bytes, base_dir: str | os.PathLike[str] = ".") -> Iterator[Progress]:
        """Create ``name`` from Modelfile text: parsed here, local files uploaded, then created."""
        from .core.create import modelfile_request
        from .core.modelfile import parse_modelfile

        body = modelfile_request(parse_modelfile(modelfile), name, Path(base_dir), self.create_blob)
        body["stream"] = True
        if self._http:
            return (wire.progress_from_wire(d) for d in self._http.lines("/api/create", body))
        req = wire.parse_create(body)
        assert self._embedded is not None
        return self._embedded.stream(lambda: self._manager.create(req))

    def aliases(self) -> list[dict[str, Any]]:
        if self._http:
            return self._http.json("GET", "/api/models")["aliases"]
        return [a.as_dict() for a in self._manager.aliases()]

    def unload(self, model: str) -> None:
        for _ in self.generate(model, "", keep_alive=0):
            pass

    # ------------------------------------------------------------------- inference

    def generate(self, model: str, prompt: str, *, system: str | None = None, options: dict[str, Any] | None = None,
                 keep_alive: float | str | None = None, raw: bool = False, format: Any = None,
                 think: bool | str | None = None) -> Response:
        body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": True}
        for key, value in (("system", system), ("options", options), ("keep_alive", keep_alive),
                           ("format", format), ("think", think)):
            if value is not None:
                body[key] = value
        if raw:
            body["raw"] = True
        return self._complete("/api/generate", body, wire.parse_generate, model)

    def chat(self, model: str, messages: Iterable[Message | dict[str, Any]], *, options: dict[str, Any] | None = None,
             keep_alive: float | str | None = None, format: Any = None, tools: list[dict[str, Any]] | None = None,
             think: bool | str | None = None) -> Response:
        msgs = [m if isinstance(m, dict) else _message_json(m) for m in messages]
        body: dict[str, Any] = {"model": model, "messages": msgs, "stream": True}
        for key, value in (("options", options), ("keep_alive", keep_alive), ("format", format), ("tools", tools),
                           ("think", think)):
            if value is not None:
                body[key] = value
        return self._complete("/api/chat", body, wire.parse_chat, model)

    def embed(self, model: str, inputs: str | list[str], *, truncate: bool = True, dimensions: int | None = None,
              options: dict[str, Any] | None = None, keep_alive: float | str | None = None,
              normalize: bool = True) -> EmbedResult:
        body: dict[str, Any] = {"model": model, "input": inputs, "truncate": truncate}
        for key, value in (("dimensions", dimensions), ("options", options), ("keep_alive", keep_alive)):
            if value is not None:
                body[key] = value
        if not normalize:
            body["normalize"] = False
        if self._http:
            # Vectors travel as base64 float32: a quarter of the JSON, and nothing to parse per float.
            d = self._http.json("POST", "/api/embed", {**body, "encoding": "base64"})
            vectors = [unpack_vector(v) for v in d.get("embeddings", [])]
            return EmbedResult(vectors, int(d.get("prompt_eval_count", 0)),
                               int(d.get("total_duration", 0)), int(d.get("load_duration", 0)))
        return self._call(self._manager.embed(wire.parse_embed(body)))

    def _complete(self, path: str, body: dict[str, Any], parse: Callable[[dict[str, Any]], Any], model: str) -> Response:
        if self._http:
            http = self._http
            return Response((wire.chunk_from_wire(d) for d in http.lines(path, body)), model)
        req = parse(body)  # the same validation the HTTP route does
        assert self._embedded is not None
        return Response(self._embedded.stream(lambda: self._manager.complete(req)), model)

    # ------------------------------------------------------------------- plumbing

    @property
    def _manager(self) -> Manager:
        assert self._embedded is not None
        return self._embedded.manager

    def _call(self, coro: Any) -> Any:
        assert self._embedded is not None
        return self._embedded.call(coro)


def _sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def _message_json(m: Message) -> dict[str, Any]:
    d = {k: v for k, v in asdict(m).items() if v not in ("", [], None)}
    d.setdefault("content", "")
    return d

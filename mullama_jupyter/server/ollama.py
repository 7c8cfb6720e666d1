"""Ollama-native routes: thin handlers over the manager and the wire translators in core/ollama.py."""

from __future__ import annotations

import asyncio
from typing import Any

from tornado.web import stream_request_body

from ..core import ollama as wire
from ..core.errors import InvalidName, InvalidRequest, ModelNotFound, MullamaError, NotFound
from ..core.names import ModelName, parse_digest
from ..core.native import Chunk
from .base import JSON, Route


class Root(Route):
    async def handle_get(self) -> None:
        self.finish_as("text/plain; charset=utf-8", "Ollama is running")

    async def handle_head(self) -> None:
        self.finish_as("text/plain; charset=utf-8")


class Version(Route):
    async def handle_get(self) -> None:
        from .. import __version__

        self.send_json({"version": wire.OLLAMA_VERSION, "mullama": __version__})

    async def handle_head(self) -> None:
        self.finish_as(JSON)


class Generate(Route):
    async def handle_post(self) -> None:
        body = self.read_json()
        req = wire.parse_generate(body)
        if not req.model:
            raise ModelNotFound("")  # Ollama answers an empty name on generate with a 404
        if req.debug_render_only:
            return await self._render(req, "generate")
        await self._answer(req.model, self.manager.complete(req), wire.generate_chunk, wire.wants_stream(body))

    async def _render(self, req: Any, kind: str) -> None:
        images = sum(len(m.images) for m in req.messages)
        self.send_json(wire.debug_render(kind, req.model, await self.manager.render(req), images))

    async def _answer(self, model: str, chunks: Any, encode: Any, stream: bool) -> None:
        created = wire.now_utc
        if stream:
            await self.stream_lines(chunks, lambda c: encode(model, c, created()))
        else:
            collected: list[Chunk] = [c async for c in chunks]
            self.send_json(encode(model, wire.merge_chunks(collected), created()))


class Chat(Generate):
    async def handle_post(self) -> None:
        body = self.read_json()
        req = wire.parse_chat(body)
        if req.debug_render_only:
            return await self._render(req, "chat")
        await self._answer(req.model, self.manager.complete(req), wire.chat_chunk, wire.wants_stream(body))


def _not_pulled(name: str) -> ModelNotFound:
    return ModelNotFound(name, f'model "{name}" not found, try pulling it first')


class Embed(Route):
    async def handle_post(self) -> None:
        body = self.read_json()
        req = wire.parse_embed(body)
        encoding = wire.embed_encoding(body)
        try:
            result = await self.manager.embed(req)
        except ModelNotFound as e:
            raise _not_pulled(req.model) from e
        self.send_json(wire.embed_response(req.model, result, encoding))


class Embeddings(Route):
    async def handle_post(self) -> None:
        req = wire.parse_embeddings(self.read_json())
        try:
            result = await self.manager.embed(req)
        except ModelNotFound as e:
            raise _not_pulled(req.model) from e
        self.send_json({"embedding": result.embeddings[0] if result.embeddings else []})


class Tags(Route):
    async def handle_get(self) -> None:
        self.send_json(wire.tags(await self.manager.list()))

    async def handle_head(self) -> None:
        self.finish_as(JSON)


class Show(Route):
    async def handle_post(self) -> None:
        body = self.read_json()
        record = await self.manager.resolve(wire.model_field(body))
        info = await self.manager.gguf(record)
        self.send_json(wire.show(record, info, verbose=bool(body.get("verbose"))))


def _valid(name: Any, label: str) -> ModelName:
    try:
        return ModelName.parse(name if isinstance(name, str) else "")
    except InvalidName:
        raise InvalidName(str(name), f'{label} "{name}" is invalid') from None


class Copy(Route):
    async def handle_post(self) -> None:
        body = self.read_json()
        src, dst = body.get("source"), body.get("destination")
        _valid(src, "source")
        _valid(dst, "destination")
        await self.manager.copy(src, dst)
        self.send_empty()


class Delete(Route):
    async def handle_delete(self) -> None:
        name = wire.model_field(self.read_json())
        if not name:
            raise InvalidRequest("model is required")
        _valid(name, "name")
        await self.manager.delete(name)
        self.send_empty()


class Pull(Route):
    async def handle_post(self) -> None:
        body = self.read_json()
        spec = wire.model_field(body)
        if not spec:
            raise InvalidRequest("model is required")
        self.manager.check_spec(spec)  # an invalid name or spec is a 400 before anything starts
        pin = body.get("digest")
        await self.answer_progress(self.manager.pull(spec, digest=parse_digest(pin) if pin else None),
                                   wire.wants_stream(body))


class Create(Route):
    async def handle_post(self) -> None:
        body = self.read_json()
        req = wire.parse_create(body)
        ModelName.parse(req.model)  # an invalid name is a 400 before anything starts
        await self.answer_progress(self.manager.create(req), wire.wants_stream(body))


BLOB_MAX = 1 << 40  # uploads stream to disk; Jupyter's 512 MiB body limit does not apply to them


@stream_request_body
class Blob(Route):
    """``HEAD``/``POST /api/blobs/<digest>``: upload a file the client names by its sha256."""

    _sink: Any = None
    _invalid: str | None = None

    async def after_auth(self) -> None:
        if self.request.method != "POST":
            return
        try:
            digest = parse_digest(self.path_args[0])
        except MullamaError as e:
            self._invalid = e.message  # answered in handle_post, once the body is drained
            return
        self.request.connection.set_max_body_size(BLOB_MAX)
        self._sink = await asyncio.to_thread(self.manager.store.blob_sink, digest)

    def data_received(self, chunk: bytes) -> Any:
        if self._sink is not None:
            # Hashing and writing happen in a thread; returning the future holds back the next read.
            return asyncio.wrap_future(self._sink.submit(chunk))
        return None

    async def handle_post(self, digest: str) -> None:
        if self._invalid is not None or self._sink is None:
            raise InvalidRequest(self._invalid or "invalid digest format")
        created = await asyncio.to_thread(self._sink.finish)
        self.send_empty(201 if created else 200)

    async def handle_head(self, digest: str) -> None:
        try:
            d = parse_digest(digest)
        except MullamaError as e:
            raise InvalidRequest(e.message) from None
        if not await asyncio.to_thread(self.manager.store.has_blob, d):
            raise NotFound(f'blob "{d}" not found')
        self.finish_as(JSON)

    def on_finish(self) -> None:
        if self._sink is not None:
            self._sink.abort()  # no-op after finish(); removes the staged file of a failed upload


class Ps(Route):
    async def handle_get(self) -> None:
        self.send_json(wire.ps(await self.manager.ps()))


ROUTES: list[tuple[str, type[Route]]] = [
    (r"/", Root),
    (r"/api/version", Version),
    (r"/api/generate", Generate),
    (r"/api/chat", Chat),
    (r"/api/embed", Embed),
    (r"/api/embeddings", Embeddings),
    (r"/api/tags", Tags),
    (r"/api/show", Show),
    (r"/api/copy", Copy),
    (r"/api/delete", Delete),
    (r"/api/pull", Pull),
    (r"/api/ps", Ps),
    (r"/api/create", Create),
    (r"/api/blobs/(.+)", Blob),
]

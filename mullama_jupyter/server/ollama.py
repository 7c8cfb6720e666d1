"""Ollama-native routes: thin handlers over the manager and the wire translators in core/ollama.py."""

from __future__ import annotations

from typing import Any

from ..core import ollama as wire
from ..core.errors import InvalidName, InvalidRequest, ModelNotFound
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
        await self._answer(req.model, self.manager.complete(req), wire.generate_chunk, wire.wants_stream(body))

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
        await self._answer(req.model, self.manager.complete(req), wire.chat_chunk, wire.wants_stream(body))


def _not_pulled(name: str) -> ModelNotFound:
    return ModelNotFound(name, f'model "{name}" not found, try pulling it first')


class Embed(Route):
    async def handle_post(self) -> None:
        req = wire.parse_embed(self.read_json())
        try:
            result = await self.manager.embed(req)
        except ModelNotFound as e:
            raise _not_pulled(req.model) from e
        self.send_json(wire.embed_response(req.model, result))


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
        progress = self.manager.pull(spec, digest=parse_digest(pin) if pin else None)
        if wire.wants_stream(body):
            await self.stream_lines(progress, wire.progress)
        else:
            last = None
            async for p in progress:
                last = p
            self.send_json(wire.progress(last) if last else {"status": "success"})


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
]

"""OpenAI-compatible routes (``/v1/...``): thin handlers over the manager and core/openai.py."""

from __future__ import annotations

from typing import Any, AsyncIterator

from ..core import openai as wire
from ..core.native import Chunk
from .base import Route


class OpenAIRoute(Route):
    """OpenAI's error envelope for every answer of the family, auth refusals under Jupyter included."""

    def error_body(self, status: int, message: str) -> Any:
        return wire.error_body(status, message)

    def stream_error(self, status: int, message: str) -> str:
        return wire.sse([wire.error_body(status, message)])

    async def answer(self, parsed: wire.Parsed, encoder: wire.ChatEncoder | wire.TextEncoder) -> None:
        chunks: AsyncIterator[Chunk] = self.manager.complete(parsed.request)
        if parsed.stream:
            await self.stream_events(chunks, lambda c: wire.sse(encoder.stream(c)), wire.SSE, end=wire.DONE)
        else:
            self.send_json(encoder.complete([c async for c in chunks]))


class ChatCompletions(OpenAIRoute):
    async def handle_post(self) -> None:
        parsed = wire.parse_chat(self.read_json())
        await self.answer(parsed, wire.ChatEncoder(parsed.request.model, parsed))


class Completions(OpenAIRoute):
    async def handle_post(self) -> None:
        parsed = wire.parse_completion(self.read_json())
        await self.answer(parsed, wire.TextEncoder(parsed.request.model, parsed))


class Embeddings(OpenAIRoute):
    async def handle_post(self) -> None:
        req, encoding = wire.parse_embeddings(self.read_json())
        self.send_json(wire.embeddings_response(req.model, await self.manager.embed(req), encoding))


class Models(OpenAIRoute):
    async def handle_get(self) -> None:
        self.send_json(wire.models_list([record for record, _ in await self.manager.list()]))


class Model(OpenAIRoute):
    async def handle_get(self, name: str) -> None:
        self.send_json(wire.model_object(await self.manager.resolve(name), name))


ROUTES: list[tuple[str, type[Route]]] = [
    (r"/v1/chat/completions", ChatCompletions),
    (r"/v1/completions", Completions),
    (r"/v1/embeddings", Embeddings),
    (r"/v1/models", Models),
    (r"/v1/models/(.+)", Model),
]

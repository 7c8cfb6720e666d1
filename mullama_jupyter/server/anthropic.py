"""Anthropic-compatible route (``/v1/messages``): a thin handler over the manager and core/anthropic.py."""

from __future__ import annotations

from typing import Any

from ..core import anthropic as wire
from .base import Route


class AnthropicRoute(Route):
    """Anthropic's error envelope for every answer, auth refusals (Jupyter's 403, the standalone 401) included."""

    def error_body(self, status: int, message: str) -> Any:
        return wire.error_body(status, message)

    def stream_error(self, status: int, message: str) -> str:
        return wire.sse([wire.error_body(status, message)])


class Messages(AnthropicRoute):
    async def handle_post(self) -> None:
        parsed = wire.parse_messages(self.read_json())
        encoder = wire.MessageEncoder(parsed.request.model)
        chunks = self.manager.complete(parsed.request)
        if parsed.stream:
            await self.stream_events(chunks, lambda c: wire.sse(encoder.events(c)), wire.SSE)
        else:
            self.send_json(encoder.complete([c async for c in chunks]))


ROUTES: list[tuple[str, type[Route]]] = [
    (r"/v1/messages", Messages),
]

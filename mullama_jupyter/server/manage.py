"""Management routes (mullama's own, beside Ollama's): models with their load state and the alias
table, pulls, and one model's details or removal."""

from __future__ import annotations

from ..core import ollama as wire
from .base import Route
from .ollama import Pull


class Models(Route):
    async def handle_get(self) -> None:
        loaded = {row.record.name.key: row for row in await self.manager.ps()}
        models = []
        for record, info in await self.manager.list():
            entry = wire.tag_entry(record, info)
            row = loaded.get(record.name.key)
            entry["loaded"] = row is not None
            if row is not None:
                entry["expires_at"] = wire.local_time(row.expires_at)
            models.append(entry)
        self.send_json({"models": models, "aliases": [a.as_dict() for a in self.manager.aliases()]})


class ModelsPull(Pull):
    """``POST /api/models/pull``: Ollama's pull, streamed the same way; takes ``name`` or ``model``."""


class Model(Route):
    async def handle_get(self, name: str) -> None:
        record = await self.manager.resolve(name)
        info = await self.manager.gguf(record)
        loaded = [row for row in await self.manager.ps() if row.record.name.key == record.name.key]
        self.send_json({"name": record.name.display, **wire.show(record, info), "loaded": bool(loaded)})

    async def handle_delete(self, name: str) -> None:
        await self.manager.delete(name)
        self.send_json({"status": "success"})


ROUTES: list[tuple[str, type[Route]]] = [
    (r"/api/models", Models),
    (r"/api/models/pull", ModelsPull),
    (r"/api/models/(.+)", Model),
]

"""OpenAI-compatible routes (``/v1/...``): translators over the native model. Filled in by its own change."""

from __future__ import annotations

from .base import Route

ROUTES: list[tuple[str, type[Route]]] = []

"""Operations routes: ``/metrics`` (Prometheus text), ``/api/system/status``. Filled in by its own change."""

from __future__ import annotations

from .base import Route

ROUTES: list[tuple[str, type[Route]]] = []

"""The one route table, shared by the Jupyter extension (below ``{base_url}mullama/``) and the
standalone server (at ``/``). Each family module contributes its ``ROUTES``."""

from __future__ import annotations

from .anthropic import ROUTES as ANTHROPIC_ROUTES
from .base import Route
from .manage import ROUTES as MANAGE_ROUTES
from .ollama import ROUTES as OLLAMA_ROUTES
from .openai import ROUTES as OPENAI_ROUTES
from .ops import ROUTES as OPS_ROUTES

ROUTES: list[tuple[str, type[Route]]] = [*OLLAMA_ROUTES, *MANAGE_ROUTES, *OPENAI_ROUTES, *ANTHROPIC_ROUTES,
                                         *OPS_ROUTES]


def bind(base: type, prefix: str = "") -> list[tuple[str, type]]:
    """Concrete handler classes: each route combined with a hosting ``base`` (auth, host checks).

    ``base`` comes first in the MRO so its ``get``/``post``/... and ``prepare`` run; the route's
    error envelope still wins because the bases delegate ``write_error`` to ``Route``.
    """
    out = []
    root = prefix.rstrip("/")
    for pattern, route in ROUTES:
        label = f"{route.__module__.rsplit('.', 1)[-1]}.{route.__name__}"
        cls = type(route.__name__, (base, route), {"__module__": base.__module__, "route_label": label})
        out.append((root + ("/?" if pattern == "/" else pattern), cls))
    return out

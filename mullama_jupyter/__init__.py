"""mullama-jupyter: Ollama-style local LLMs inside Jupyter.

Kept light on purpose: runner processes and ``mullama`` start by importing this package, so heavy
modules load only when their feature is used.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension", "_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.extension import MullamaExtension

    return [{"module": "mullama_jupyter.server.extension", "app": MullamaExtension}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mullama_jupyter``"""
    from .magics import MullamaMagics

    ipython.register_magics(MullamaMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext mullama_jupyter``: the magics and their history hook go away."""
    magics = ipython.magics_manager.registry.pop("MullamaMagics", None)
    if magics is not None:
        magics.close()
        ipython.magics_manager.magics["line"].pop("mullama", None)
        ipython.magics_manager.magics["cell"].pop("mullama", None)

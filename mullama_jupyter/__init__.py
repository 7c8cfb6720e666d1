"""mullama-jupyter: Ollama-style local LLMs inside Jupyter.

Kept light on purpose: runner processes and ``mullama`` start by importing this package, so heavy
modules load only when their feature is used.
"""

from __future__ import annotations

import sys
from typing import Any

from ._version import __version__

__all__ = ["__version__", "embed", "load_ipython_extension", "unload_ipython_extension",
           "_jupyter_server_extension_points", "_jupyter_labextension_paths"]


def __getattr__(name: str) -> Any:
    if name == "embed":  # pandas loads only when embeddings are asked for
        from .pandas import embed

        return embed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register_pandas_accessors() -> None:
    """``series.mullama`` / ``df.mullama`` exist once both this package and pandas are imported,
    whichever came first, without making every ``mullama`` command or runner pay for importing pandas."""
    if "pandas" in sys.modules:
        from . import pandas  # noqa: F401 - registers the accessors
        return
    import importlib.abc

    class _AfterPandas(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
            if fullname != "pandas":
                return None
            sys.meta_path.remove(self)
            # Ask the finders that would have answered without us, in their order.
            spec = next((s for f in sys.meta_path if hasattr(f, "find_spec")
                         for s in [f.find_spec(fullname, path, target)] if s is not None), None)
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return spec
            run = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                run(module)
                from . import pandas  # noqa: F401 - pandas is complete now: register the accessors

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, _AfterPandas())


_register_pandas_accessors()


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.extension import MullamaExtension

    return [{"module": "mullama_jupyter.server.extension", "app": MullamaExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension is, for ``jupyter labextension develop`` (wheels install it into
    ``share/jupyter/labextensions`` instead)."""
    return [{"src": "labextension", "dest": "mullama-jupyter"}]


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

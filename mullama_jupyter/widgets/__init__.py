"""ipywidgets for notebooks: a chat panel, a pull's progress, and the local models as a table.

``Chat`` draws itself with a small ES module shipped in ``static/`` (through anywidget, no network);
``PullProgress`` and ``Models`` are plain ipywidgets compositions. All of them talk to the manager
through ``mullama_jupyter.client.Client`` (the Jupyter server's, or an embedded one).
"""

from typing import Any

from .models import Models
from .pull import PullProgress

__all__ = ["Chat", "Models", "PullProgress"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `%mullama pull` (PullProgress) does not pay for anywidget.
    if name == "Chat":
        from .chat import Chat

        return Chat
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

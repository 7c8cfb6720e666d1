"""ipywidgets for notebooks: pull progress (the chat panel and model manager arrive in their own change)."""

from .pull import PullProgress

__all__ = ["PullProgress"]

"""A pull's progress as a widget: a bar per file in bytes, and the current step as text."""

from __future__ import annotations

import ipywidgets as widgets

from ..core.native import Progress
from ..core.system import human_bytes


class PullProgress(widgets.VBox):
    """Feed it ``Progress`` events; it shows a bar while bytes move and the step otherwise."""

    def __init__(self, spec: str):
        self.title = widgets.HTML(f"<b>pull</b> {_escape(spec)}")
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="50%"))
        self.label = widgets.Label("starting")
        super().__init__([self.title, widgets.HBox([self.bar, self.label])])

    def update(self, p: Progress) -> None:
        if p.total:
            self.bar.max = max(p.total, 1)
            self.bar.value = min(p.completed or 0, p.total)
            self.label.value = f"{p.status}  {human_bytes(p.completed or 0)} / {human_bytes(p.total)}"
        else:
            self.label.value = p.status
            if p.status == "success":
                self.bar.value = self.bar.max
                self.bar.bar_style = "success"

    def fail(self, message: str) -> None:
        self.bar.bar_style = "danger"
        self.label.value = message

    def __repr__(self) -> str:  # avoid serialising every trait for a repr
        return object.__repr__(self)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

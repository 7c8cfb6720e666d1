"""A pull's progress as a widget: a bar per file with bytes, speed and ETA, then a summary line."""

from __future__ import annotations

import html
import time
from typing import Iterable

import ipywidgets as widgets

from ..core.errors import MullamaError
from ..core.native import Progress
from ..core.system import human_bytes

_STYLE = """<style>
.mullama-pull { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 8px; padding: 8px 12px;
  max-width: 760px; font-family: var(--jp-ui-font-family, system-ui, sans-serif); }
.mullama-pull .mp-title { font-weight: 600; }
.mullama-pull .mp-step, .mullama-pull .mp-file, .mullama-pull .mp-figures {
  color: var(--jp-ui-font-color2, #6e7781); font-variant-numeric: tabular-nums; font-size: 0.92em; }
.mullama-pull .mp-file { font-family: var(--jp-code-font-family, monospace); }
.mullama-pull .mp-done { color: var(--jp-success-color1, #2e7d32); font-weight: 600; }
.mullama-pull .mp-failed { color: var(--jp-error-color1, #d32f2f); font-weight: 600; }
</style>"""


class _File:
    """One blob's row: its bar and figures, with the bytes-over-time it needs for a speed."""

    def __init__(self, digest: str):
        short = digest.split(":")[-1][:12]
        self.name = widgets.HTML(f'<span class="mp-file">{short}</span>', layout=widgets.Layout(width="110px"))
        self.bar = widgets.FloatProgress(value=0, min=0, max=1, layout=widgets.Layout(flex="1"))
        self.figures = widgets.HTML("", layout=widgets.Layout(width="300px"))
        self.row = widgets.HBox([self.name, self.bar, self.figures], layout=widgets.Layout(align_items="center"))
        self.total = 0
        self.completed = 0
        self.started = time.monotonic()
        self.start_bytes: int | None = None  # a resumed download starts part-way: count only new bytes
        self.finished: float | None = None

    def update(self, total: int, completed: int) -> None:
        now = time.monotonic()
        if self.start_bytes is None:
            self.start_bytes, self.started = completed, now
        self.total, self.completed = total, min(completed, total)
        self.bar.max = max(total, 1)
        self.bar.value = self.completed
        moved, elapsed = self.completed - self.start_bytes, now - self.started
        if self.completed >= total:
            self.finished = self.finished or now
            self.bar.bar_style = "success"
            took = f" in {elapsed:.1f} s" if elapsed >= 0.05 else ""
            self.figures.value = f'<span class="mp-figures">{human_bytes(total)}{took}</span>'
            return
        figures = f"{human_bytes(self.completed)} / {human_bytes(total)}"
        if moved > 0 and elapsed > 0:
            speed = moved / elapsed
            figures += f" · {human_bytes(speed)}/s · ETA {_clock((total - self.completed) / speed)}"
        self.figures.value = f'<span class="mp-figures">{figures}</span>'


class PullProgress(widgets.VBox):
    """Feed it ``Progress`` events (``update``), or a whole pull (``follow``); ``fail`` shows an error."""

    def __init__(self, spec: str):
        self.spec = spec
        self.title = widgets.HTML(f'{_STYLE}<span class="mp-title">Pulling {html.escape(spec)}</span>')
        self.step = widgets.HTML('<span class="mp-step">starting…</span>')
        self.files: dict[str, _File] = {}
        self.file_box = widgets.VBox([])
        self.summary = widgets.HTML("")
        self.started = time.monotonic()
        self.state = "running"  # running | success | failed
        super().__init__([self.title, self.file_box, self.step, self.summary])
        self.add_class("mullama-pull")

    def update(self, p: Progress) -> None:
        if p.digest and p.total:
            row = self.files.get(p.digest)
            if row is None:
                row = self.files[p.digest] = _File(p.digest)
                self.file_box.children = [*self.file_box.children, row.row]
            row.update(p.total, p.completed or 0)
        if p.status == "success":
            self.state = "success"
            size = sum(f.total for f in self.files.values())
            files = len(self.files)
            took = time.monotonic() - self.started
            what = f"{files} file{'s' if files != 1 else ''}, {human_bytes(size)}" if files else "already up to date"
            self.step.value = ""
            self.summary.value = (f'<span class="mp-done">✓ pulled {html.escape(self.spec)}</span>'
                                  f'<span class="mp-figures"> — {what} in {took:.1f} s</span>')
        elif not (p.digest and p.total):
            self.step.value = f'<span class="mp-step">{html.escape(p.status)}…</span>'

    def fail(self, message: str) -> None:
        self.state = "failed"
        for f in self.files.values():
            if f.finished is None:
                f.bar.bar_style = "danger"
        self.step.value = ""
        self.summary.value = f'<span class="mp-failed">✗ pull failed: {html.escape(message)}</span>'

    def follow(self, progress: Iterable[Progress]) -> None:
        """Show a whole pull (``client.pull(spec)``); a failure shows here, then raises."""
        try:
            for p in progress:
                self.update(p)
        except MullamaError as e:
            self.fail(e.describe())
            raise

    @property
    def total_bytes(self) -> int:
        return sum(f.total for f in self.files.values())

    def __repr__(self) -> str:  # avoid serialising every trait for a repr
        return f"<PullProgress {self.spec}: {self.state}>"


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"

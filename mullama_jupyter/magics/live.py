"""Where a streaming answer shows while it is written.

In a notebook, one display is updated in place (at most every ``interval`` seconds, so a fast model
does not flood the front end), with thinking in a display of its own above it; both are cleared when
the answer is complete, because the returned result then shows the rendered answer. An interrupted or
failed answer stays as far as it got. In a terminal, text goes straight to stdout.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class LiveView:
    def __init__(self, notebook: bool, interval: float = 0.1):
        self.notebook = notebook
        self.interval = interval
        self.text: list[str] = []
        self.thought: list[str] = []
        self.updates = 0  # display updates sent (tests count them)
        self._shown = ("", "")
        self._last = 0.0
        self._answer: Any = None
        self._thinking: Any = None
        self._said_thinking = False

    def thinking(self, text: str) -> None:
        if not text:
            return
        self.thought.append(text)
        if self.notebook:
            self._refresh()
        else:
            if not self._said_thinking:
                sys.stdout.write("Thinking...\n")
                self._said_thinking = True
            sys.stdout.write(text)
            sys.stdout.flush()

    def content(self, text: str) -> None:
        if not text:
            return
        if not self.notebook and self._said_thinking and not self.text:
            sys.stdout.write("\n...done thinking.\n\n")
        self.text.append(text)
        if self.notebook:
            self._refresh()
        else:
            sys.stdout.write(text)
            sys.stdout.flush()

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        from IPython.display import display

        thought, text = "".join(self.thought), "".join(self.text)
        if thought != self._shown[0]:
            bundle = {"text/plain": "Thinking…\n" + thought}
            if self._thinking is None:
                self._thinking = display(bundle, raw=True, display_id=True)
            else:
                self._thinking.update(bundle, raw=True)
            self.updates += 1
        if text != self._shown[1]:
            if self._answer is None:
                self._answer = display({"text/plain": text}, raw=True, display_id=True)
            else:
                self._answer.update({"text/plain": text}, raw=True)
            self.updates += 1
        self._shown = (thought, text)

    def stopped(self) -> None:
        """The stream ended early: show everything received, and leave it there."""
        if self.notebook:
            self._refresh(force=True)
        else:
            sys.stdout.write("\n")

    def finish(self) -> None:
        """The answer is complete; the cell's result renders it from here on."""
        if self.notebook:
            for handle in (self._thinking, self._answer):
                if handle is not None:
                    handle.update({"text/plain": ""}, raw=True)
        elif self.text or self.thought:
            sys.stdout.write("\n")
            sys.stdout.flush()

"""What ``%%mullama run`` / ``chat`` return: the answer as a ``str``, with its metadata.

Being a ``str``, it works wherever text does (``_.upper()``, ``json.loads(Out[4])``); being the cell's
value, it is ``_``, ``Out[n]`` or the ``--var`` name. Its rich display is the final rendering of the
answer in the chosen ``--format`` — the live stream above it is cleared once the answer is complete, so
the cell shows the answer once.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..core.native import Metrics

FORMATS = ("markdown", "text", "code", "json", "html")


class MullamaResult(str):
    model: str = ""
    format: str = "markdown"
    thinking: str = ""
    metrics: Metrics | None = None
    done_reason: str | None = None
    session: str | None = None
    data: Any = None  # the parsed value, for --format json
    streamed_as_text = False  # a terminal already printed the text: the repr is then only a summary

    @classmethod
    def make(cls, text: str, **meta: Any) -> "MullamaResult":
        r = cls(text)
        for key, value in meta.items():
            setattr(r, key, value)
        return r

    @property
    def text(self) -> str:
        return str.__str__(self)

    @property
    def tokens_per_second(self) -> float | None:
        m = self.metrics
        return m.eval_count / (m.eval_duration / 1e9) if m and m.eval_duration else None

    def summary(self) -> str:
        parts = [self.model]
        if self.metrics:
            parts.append(f"{self.metrics.eval_count} tokens")
        if self.tokens_per_second:
            parts.append(f"{self.tokens_per_second:.1f} tokens/s")
        if self.done_reason == "length":
            parts.append("cut at the token limit")
        return "[" + " · ".join(parts) + "]"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary() if self.streamed_as_text else self.text)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        plain = self.summary() if self.streamed_as_text else self.text
        bundle: dict[str, Any] = {"text/plain": plain}
        think = ""
        if self.thinking:
            think = ("<details><summary>Thinking</summary>\n\n<pre>" + html.escape(self.thinking.strip())
                     + "</pre>\n\n</details>\n\n")
        if self.format == "markdown":
            bundle["text/markdown"] = think + self.text
        elif self.format == "code":
            bundle["text/markdown"] = think + fence(extract_code(self.text))
        elif self.format == "json" and self.data is not None:
            bundle["application/json"] = self.data if isinstance(self.data, (dict, list)) else {"value": self.data}
        elif self.format == "html":
            bundle["text/html"] = think + self.text
        elif think:
            bundle["text/markdown"] = think + fence(self.text)
        return bundle


def fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def extract_code(text: str) -> str:
    """The first fenced block's body, or the whole text when the model wrote bare code."""
    lines = text.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("```")), None)
    if start is None:
        return text.strip()
    end = next((j for j in range(start + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
    return "\n".join(lines[start + 1:end])


def parse_json(text: str) -> Any:
    """The answer as JSON; a clear ValueError when it is not (cut off by the token limit, usually)."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise ValueError(f"the answer is not valid JSON ({e})") from None

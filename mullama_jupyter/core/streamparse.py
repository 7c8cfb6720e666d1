"""Splitting a model's raw output stream: thinking apart from the answer, tool calls out of the text.

Both work on text as it streams, so a marker cut across two chunks (``<thi`` + ``nk>``) is held back
until it is known to be a marker or not. Markers come from the Modelfile (``THINKING start/end``,
``TOOLFORMAT call_start/call_end``) or from what the chat template implies (``<think>``,
``<tool_call>``).
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass

from .native import ToolCall


def _hold(text: str, marker: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:n]):
            return n
    return 0


class ThinkingSplitter:
    """Text between ``start`` and ``end`` is thinking; the rest is content.

    ``inside=True`` starts in thinking mode, for templates that open the thinking block in the prompt
    (the model's first output is already thought, ended by ``end``).
    """

    def __init__(self, start: str = "<think>", end: str = "</think>", inside: bool = False):
        self.start, self.end = start, end
        self.inside = inside
        self.buf = ""
        self.after_block = False

    def feed(self, text: str) -> tuple[str, str]:
        self.buf += text
        content, thinking = [], []
        while self.buf:
            marker = self.end if self.inside else self.start
            i = self.buf.find(marker)
            piece = self.buf[:i] if i >= 0 else self.buf[: len(self.buf) - _hold(self.buf, marker)]
            if self.inside:
                thinking.append(piece)
            else:
                content.append(self._answer(piece))
            self.buf = self.buf[len(piece):]
            if i < 0:
                break
            self.buf = self.buf[len(marker):]
            self.inside = not self.inside
            self.after_block = not self.inside
        return "".join(content), "".join(thinking)

    def _answer(self, piece: str) -> str:
        # The answer starts after the line break that closes the thinking block, wherever it arrives.
        if self.after_block:
            piece = piece.lstrip("\n")
            self.after_block = not piece
        return piece

    def flush(self) -> tuple[str, str]:
        rest, self.buf = self.buf, ""
        return ("", rest) if self.inside else (self._answer(rest), "")


@dataclass
class ToolFormat:
    call_start: str = "<tool_call>"
    call_end: str = "</tool_call>"
    result_start: str = "<tool_response>"
    result_end: str = "</tool_response>"


class ToolCallParser:
    """Text between the call markers is a JSON tool call (``{"name", "arguments"}``, or a list of
    them); it leaves the content and becomes ``ToolCall`` objects. Text that does not parse stays
    content, so a model that merely mentions the marker loses nothing."""

    def __init__(self, fmt: ToolFormat):
        self.fmt = fmt
        self.buf = ""
        self.inside = False
        self.index = 0

    def feed(self, text: str) -> tuple[str, list[ToolCall]]:
        self.buf += text
        content: list[str] = []
        calls: list[ToolCall] = []
        while self.buf:
            if not self.inside:
                i = self.buf.find(self.fmt.call_start)
                if i < 0:
                    keep = _hold(self.buf, self.fmt.call_start)
                    content.append(self.buf[: len(self.buf) - keep])
                    self.buf = self.buf[len(self.buf) - keep:]
                    break
                content.append(self.buf[:i])
                self.buf = self.buf[i + len(self.fmt.call_start):]
                self.inside = True
            else:
                j = self.buf.find(self.fmt.call_end)
                if j < 0:
                    break  # wait for the end marker
                body, self.buf = self.buf[:j], self.buf[j + len(self.fmt.call_end):]
                self.inside = False
                parsed = self._parse(body)
                if parsed is None:
                    content.append(self.fmt.call_start + body + self.fmt.call_end)
                else:
                    calls.extend(parsed)
        return "".join(content), calls

    def flush(self) -> tuple[str, list[ToolCall]]:
        """At the end of the stream: a call left open is tried as is (models often omit the end)."""
        rest, self.buf = self.buf, ""
        if self.inside:
            self.inside = False
            parsed = self._parse(rest)
            return ("", parsed) if parsed is not None else (self.fmt.call_start + rest, [])
        return rest, []

    def _parse(self, body: str) -> list[ToolCall] | None:
        try:
            data = json.loads(body.strip())
        except ValueError:
            return None
        items = data if isinstance(data, list) else [data]
        calls = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return None
            args = item.get("arguments", item.get("parameters", {}))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    return None
            if not isinstance(args, dict):
                return None
            calls.append(ToolCall(item["name"], args, id=call_id(), index=self.index))
            self.index += 1
        return calls


def call_id() -> str:
    """Ollama's form: ``call_`` and 8 of [a-z0-9]."""
    alphabet = string.ascii_lowercase + string.digits
    return "call_" + "".join(secrets.choice(alphabet) for _ in range(8))


class OutputShaper:
    """The runner's text, split into (content, thinking, tool calls) per a model's formats."""

    def __init__(self, thinking: ThinkingSplitter | None, tools: ToolCallParser | None, keep_thinking: bool = True):
        self.thinking, self.tools, self.keep_thinking = thinking, tools, keep_thinking

    def feed(self, text: str) -> tuple[str, str, list[ToolCall]]:
        content, thought = self.thinking.feed(text) if self.thinking else (text, "")
        return self._shape(content, thought, final=False)

    def flush(self) -> tuple[str, str, list[ToolCall]]:
        content, thought = self.thinking.flush() if self.thinking else ("", "")
        return self._shape(content, thought, final=True)

    def _shape(self, content: str, thought: str, final: bool) -> tuple[str, str, list[ToolCall]]:
        calls: list[ToolCall] = []
        if self.tools is not None:
            content, calls = self.tools.feed(content)
            if final:
                rest, more = self.tools.flush()
                content, calls = content + rest, calls + more
        return content, thought if self.keep_thinking else "", calls

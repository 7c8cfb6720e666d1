"""Conversation memory for ``%%mullama chat``: one message history per session name.

Sessions live in the kernel. ``--persist`` also keeps one in ``mullama-chat-<session>.json`` in the
kernel's working directory (the notebook's folder), read back on first use after a restart and
rewritten, atomically, after every turn.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT = "default"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SessionError(ValueError):
    pass


def check_name(name: str) -> str:
    # The name becomes part of a file name: one validator, before anything touches disk.
    if not _VALID.fullmatch(name):
        raise SessionError(f"invalid session name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


@dataclass
class Session:
    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    path: Path | None = None  # set when persisted

    def add(self, role: str, content: str, **extra: Any) -> None:
        self.messages.append({"role": role, "content": content, **{k: v for k, v in extra.items() if v}})
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        data = json.dumps({"session": self.name, "model": self.model, "messages": self.messages}, indent=1,
                          ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def transcript(self) -> str:
        if not self.messages:
            return f"session {self.name!r} is empty"
        lines = []
        for m in self.messages:
            lines.append(f"[{m['role']}] {m['content']}")
        return "\n\n".join(lines)


class Sessions:
    def __init__(self) -> None:
        self._by_name: dict[str, Session] = {}

    def get(self, name: str | None, *, persist: bool = False, folder: Path | None = None) -> Session:
        name = check_name(name or DEFAULT)
        session = self._by_name.get(name)
        if session is None:
            session = self._by_name[name] = Session(name)
        if persist and session.path is None:
            session.path = (folder or Path.cwd()) / f"mullama-chat-{name}.json"
            if session.path.exists() and not session.messages:
                session.messages, session.model = _load(session.path)
            session.save()
        return session

    def reset(self, name: str | None) -> Session:
        session = self.get(name)
        session.messages.clear()
        session.save()
        return session

    def names(self) -> list[str]:
        return sorted(self._by_name)


def _load(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        messages = data["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise ValueError("messages must be a list of {role, content}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SessionError(f"cannot read the saved session {path.name}: {e} (move it away to start afresh)") from None
    return messages, data.get("model")

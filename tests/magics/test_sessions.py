"""Chat sessions: history per name, persisted on request, names checked before they touch disk."""

from __future__ import annotations

import json

import pytest

from mullama_jupyter.magics.sessions import SessionError, Sessions


def test_sessions_keep_separate_histories_and_reset(tmp_path):
    s = Sessions()
    s.get(None).add("user", "hi")
    s.get("other").add("user", "yo")
    assert [m["content"] for m in s.get("default").messages] == ["hi"]
    assert s.names() == ["default", "other"]
    s.reset("default")
    assert s.get("default").messages == [] and s.get("other").messages


def test_persisted_sessions_survive_a_new_kernel(tmp_path):
    first = Sessions().get("work", persist=True, folder=tmp_path)
    first.model = "m"
    first.add("user", "remember 7")
    first.add("assistant", "ok", thinking="")
    path = tmp_path / "mullama-chat-work.json"
    assert json.loads(path.read_text())["messages"][1] == {"role": "assistant", "content": "ok"}
    again = Sessions().get("work", persist=True, folder=tmp_path)  # a restarted kernel
    assert [m["content"] for m in again.messages] == ["remember 7", "ok"] and again.model == "m"


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_session_names_are_validated_before_any_file_is_made(tmp_path, name):
    with pytest.raises(SessionError, match="invalid session name"):
        Sessions().get(name, persist=True, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_saved_session_is_a_clear_error(tmp_path):
    (tmp_path / "mullama-chat-bad.json").write_text("{not json")
    with pytest.raises(SessionError, match="cannot read the saved session mullama-chat-bad.json"):
        Sessions().get("bad", persist=True, folder=tmp_path)

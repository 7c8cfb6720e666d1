"""The chat panel's Python side, driven through the same path as its buttons, against the real model."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from mullama_jupyter.client import Client, _Embedded
from mullama_jupyter.widgets import Chat
from tests.conftest import MODEL

pytestmark = pytest.mark.model
REPLY_TIMEOUT = 180  # the tiny model is quick, but the machine may be busy


@pytest.fixture(scope="module")
def embedded(model_store_dir: Path) -> Iterator[Client]:
    """One embedded manager for the module, so the model loads once."""
    client = Client(embedded=True, models_dir=str(model_store_dir))
    yield client
    key = str(model_store_dir)
    if (inst := _Embedded._instances.pop(key, None)) is not None:
        inst.shutdown()


def front_end(chat: Chat, **content: object) -> None:
    """What the browser's buttons do: a custom comm message to the widget."""
    chat._handle_custom_msg(dict(content), [])


def test_send_streams_the_reply_into_traits_and_history(embedded: Client) -> None:
    chat = Chat(client=embedded, temperature=0, max_tokens=16)
    assert chat.model == MODEL and MODEL in chat.models
    assert chat.source.startswith("embedded manager")
    partial: list[str] = []
    chat.observe(lambda change: partial.append(change["new"].get("content", "")), "pending")
    seen: list[dict] = []
    chat.on_message(seen.append)

    t0 = time.perf_counter()
    front_end(chat, type="send", text="Name three colours.")
    assert time.perf_counter() - t0 < 2, "send must not wait for the reply"
    assert chat.status in ("waiting", "streaming") and chat.busy
    assert chat.wait(REPLY_TIMEOUT)

    assert chat.status == "idle" and chat.pending == {}
    history = chat.history
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "Name three colours."
    reply = chat.messages[-1]
    assert reply["content"].strip() and reply["html"].strip()
    assert "tokens" in reply["stats"] and "tok/s" in reply["stats"]
    assert not reply.get("stopped")
    # Streaming: several growing partial replies before the final one.
    texts = [p for p in partial if p]
    assert len(texts) >= 3
    assert all(a != b and b.startswith(a) for a, b in zip(texts, texts[1:]))
    assert texts[-1] == reply["content"]
    assert [m["role"] for m in seen] == ["user", "assistant"] and seen[-1]["content"] == reply["content"]
    # Durable state is in the synced traits: a new view (or a reconnected browser) gets the conversation.
    state = chat.get_state()
    assert [m["content"] for m in state["messages"]] == [m["content"] for m in chat.messages]
    assert state["status"] == "idle"

    # The next turn carries the history, and the system prompt.
    chat.system = "Answer in one word."
    chat.max_tokens = 4
    chat.send("And one more?")
    assert chat.wait(REPLY_TIMEOUT)
    assert [m["role"] for m in chat.history] == ["user", "assistant", "user", "assistant"]


def test_stop_cancels_mid_stream_and_keeps_the_text(embedded: Client) -> None:
    chat = Chat(client=embedded, temperature=0, max_tokens=400)
    chat.send("Write a long story about a lighthouse keeper.")
    deadline = time.monotonic() + REPLY_TIMEOUT
    while len(chat.pending.get("content", "")) < 10:
        assert time.monotonic() < deadline and chat.busy, "no streamed text arrived"
        time.sleep(0.02)
    front_end(chat, type="stop")
    assert chat.status == "stopping"
    assert chat.wait(30), "the reply did not stop"

    reply = chat.messages[-1]
    assert reply["role"] == "assistant" and reply["stopped"] is True
    assert reply["content"] and reply["stats"].startswith("stopped")
    tokens = int(reply["stats"].split(" · ")[1].split()[0])
    assert tokens < 400
    assert chat.status == "idle" and chat.pending == {}
    # The model is free again: the next message gets an answer.
    chat.max_tokens = 4
    chat.send("Hi")
    assert chat.wait(REPLY_TIMEOUT)
    assert chat.messages[-1]["role"] == "assistant" and not chat.messages[-1].get("stopped")


def test_errors_show_in_the_panel(embedded: Client) -> None:
    chat = Chat("missing-model:latest", client=embedded)
    assert "missing-model:latest" in chat.models  # a named model stays selectable
    front_end(chat, type="send", text="hello")
    assert chat.wait(60)
    assert [m["role"] for m in chat.messages] == ["user", "error"]
    assert "not found" in chat.messages[-1]["content"]
    assert chat.history == [{"role": "user", "content": "hello"}]

    front_end(chat, type="send", text="   ")
    assert chat.messages[-1] == {"role": "error", "content": "nothing to send: the message is empty"}
    with pytest.raises(ValueError, match="empty"):
        chat.send("")
    front_end(chat, type="clear")
    assert chat.messages == [] and chat.history == []


def test_save_and_load_round_trip(embedded: Client, tmp_path: Path) -> None:
    chat = Chat(client=embedded, system="Be brief.", temperature=0.2, max_tokens=32)
    chat.messages = [{"role": "user", "content": "What is `x`?"},
                     {"role": "assistant", "content": "A **variable**:\n```python\nx = 1\n```", "html": "",
                      "thinking": "", "stats": "9 tokens · 80.0 tok/s · 0.2 s"}]
    path = chat.save(tmp_path / "chat.json")
    saved = json.loads(path.read_text())
    assert saved["version"] == 1 and saved["system"] == "Be brief." and len(saved["messages"]) == 2

    other = Chat(client=embedded).load(path)
    assert other.history == chat.history
    assert (other.system, other.temperature, other.max_tokens) == ("Be brief.", 0.2, 32)
    html = other.messages[1]["html"]
    assert "<strong>variable</strong>" in html and 'class="highlight"' in html  # markdown, highlighted code

    (tmp_path / "bad.json").write_text('{"version": 99}')
    with pytest.raises(ValueError, match="not a saved chat"):
        other.load(tmp_path / "bad.json")


def test_markdown_escapes_model_html() -> None:
    from mullama_jupyter.widgets._markdown import to_html

    out = to_html("<img src=x onerror=alert(1)> ![pic](http://example.invalid/p.png)\n\n```py\nprint(1)")
    assert "<img" not in out and "&lt;img" in out
    assert '<span class="mc-lang">py</span>' in out and "print" in out  # an unclosed fence is still code


def test_chat_through_a_server(standalone: str) -> None:
    chat = Chat(client=Client(standalone), temperature=0, max_tokens=8)
    assert chat.source == f"server at {standalone}"
    assert chat.model == MODEL
    chat.send("Say hi.")
    assert chat.wait(REPLY_TIMEOUT)
    assert [m["role"] for m in chat.messages] == ["user", "assistant"]
    assert chat.messages[-1]["content"] and "tok/s" in chat.messages[-1]["stats"]


def test_thinking_is_kept_apart_from_the_answer(scripted_serve: str) -> None:
    """The echo engine says the user's turn back; "thinker" splits <think>…</think> off as thinking."""
    from tests.conftest import SCRIPTED_KEY

    chat = Chat("thinker", client=Client(scripted_serve, SCRIPTED_KEY), think=True)
    thoughts: list[str] = []
    chat.observe(lambda change: thoughts.append(change["new"].get("thinking", "")), "pending")
    chat.send("<think>Six times seven.</think>The answer is **42**.")
    assert chat.wait(60)
    reply = chat.messages[-1]
    assert reply["role"] == "assistant", chat.messages
    assert reply["thinking"].strip() == "Six times seven."
    assert reply["content"].strip() == "The answer is **42**." and "<strong>42</strong>" in reply["html"]
    assert any(t and not t.endswith("seven.") for t in thoughts)  # thinking streamed too
    assert chat.history[-1] == {"role": "assistant", "content": reply["content"]}

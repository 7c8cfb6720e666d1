"""The chat panel: a model picker, a streamed conversation rendered as markdown, a Stop button.

Durable state lives in synced traits (``messages``, ``pending``, ``status``, the settings), so a
re-displayed widget or a reconnected browser shows the same conversation. Replies are generated in a
background thread that updates the traits as tokens arrive: the kernel stays free while a chat answers,
and a Stop click (a comm message) reaches us while the reply streams.

The browser side is a small ES module (``static/chat.js``) loaded through anywidget; it sends
``{"type": "send" | "stop" | "clear" | "refresh"}`` messages, handled by the same methods as the
Python API (``send``, ``stop``, ``clear``, ``refresh_models``).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import anywidget
import traitlets as t

from ..client import Client
from ..core.errors import MullamaError
from ._markdown import highlight_css, to_html

STATIC = Path(__file__).with_name("static")
PREFERRED_MODEL = "smollm2:135m"  # the bundled model, usable offline
FILE_VERSION = 1

Callback = Callable[[dict[str, Any]], Any]


class Chat(anywidget.AnyWidget):
    """A chat panel over a mullama manager (the Jupyter server's, or an embedded one).

    ``send(text)`` is what the Send button does; ``wait()`` blocks until the reply is complete;
    ``history`` is the conversation as role/content dicts; ``on_message(cb)`` calls ``cb(message)``
    for each message added (the assistant's from the generating thread); ``save``/``load`` keep a
    conversation in a JSON file.
    """

    _esm = STATIC / "chat.js"
    _css = (STATIC / "chat.css").read_text(encoding="utf-8") + highlight_css(".mullama-chat")

    models = t.List(t.Unicode(), help="Models that can chat, for the picker.").tag(sync=True)
    model = t.Unicode("", help="The model answering.").tag(sync=True)
    system = t.Unicode("", help="System prompt (empty: the model's own).").tag(sync=True)
    temperature = t.Float(0.7, min=0.0, max=2.0).tag(sync=True)
    max_tokens = t.Int(512, min=1, help="num_predict of each reply.").tag(sync=True)
    think = t.Bool(False, help="Ask thinking models to think (sent only when on).").tag(sync=True)
    messages = t.List(t.Dict(), help="The conversation as displayed: role, content, html, thinking, stats.").tag(sync=True)
    pending = t.Dict(help="The reply being streamed (empty when none).").tag(sync=True)
    status = t.Unicode("idle", help="idle | waiting | streaming | stopping").tag(sync=True)
    source = t.Unicode("", help="Which manager answers, for the footer.").tag(sync=True)

    def __init__(self, model: str | None = None, *, client: Client | None = None, system: str = "",
                 temperature: float = 0.7, max_tokens: int = 512, think: bool = False, **kwargs: Any):
        super().__init__(system=system, temperature=temperature, max_tokens=max_tokens, think=think, **kwargs)
        self.client = client if client is not None else Client()
        self._callbacks: list[Callback] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.source = _source(self.client)
        self.refresh_models()
        if model:
            self.model = model
            if model not in self.models:
                self.models = [*self.models, model]
        self.on_msg(self._on_front_end)

    # ------------------------------------------------------------------- public API

    @property
    def history(self) -> list[dict[str, str]]:
        """The conversation as chat messages (role, content), errors and empty stopped replies left out."""
        return [{"role": m["role"], "content": m["content"]} for m in self.messages
                if m["role"] in ("user", "assistant") and m.get("content")]

    @property
    def busy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def send(self, text: str) -> None:
        """Add a user message and stream the reply in the background (``wait()`` for it)."""
        text = text.strip()
        if not text:
            raise ValueError("nothing to send: the message is empty")
        with self._lock:
            if self.busy:
                raise RuntimeError("a reply is still streaming: press Stop (or call chat.stop()) first")
            if not self.model:
                raise MullamaError("no model selected", hint="pull one: %mullama pull smollm2:135m")
            request = ([{"role": "system", "content": self.system}] if self.system.strip() else []) + self.history
            request.append({"role": "user", "content": text})
            options = {"temperature": self.temperature, "num_predict": self.max_tokens}
            self._stop.clear()
            self.status = "waiting"
            self._append({"role": "user", "content": text})
            self._worker = threading.Thread(target=self._generate, args=(self.model, request, options, self.think),
                                            name="mullama-chat", daemon=True)
            self._worker.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current reply is complete; False if it is still streaming after ``timeout``."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return not self.busy

    def stop(self) -> None:
        """Stop the reply being generated (the runner stops at its next token); the text so far stays."""
        if self.busy:
            self._stop.set()
            self.status = "stopping"

    def clear(self) -> None:
        self.stop()
        self.wait(30)
        with self.hold_sync():
            self.messages = []
            self.pending = {}

    def on_message(self, callback: Callback, remove: bool = False) -> None:
        """Call ``callback(message)`` for each message added to the conversation."""
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def refresh_models(self) -> list[str]:
        """Ask the manager for its models again; a failure shows in the panel."""
        try:
            tags = self.client.list()
        except MullamaError as e:
            self._error(f"could not list the models: {e.describe()}")
            return list(self.models)
        # Embedding-only models cannot chat; entries without capabilities (older servers) are kept.
        names = [m["name"] for m in tags.get("models", []) if "completion" in m.get("capabilities", ["completion"])]
        if self.model and self.model not in names:
            names.append(self.model)
        self.models = names
        if not self.model and names:
            self.model = PREFERRED_MODEL if PREFERRED_MODEL in names else names[0]
        return names

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        data = {"version": FILE_VERSION, "model": self.model, "system": self.system,
                "options": {"temperature": self.temperature, "max_tokens": self.max_tokens, "think": self.think},
                "messages": [{k: v for k, v in m.items() if k != "html"} for m in self.messages]}
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    def load(self, path: str | Path) -> "Chat":
        """Replace the conversation and settings with those saved in ``path``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("version") != FILE_VERSION:
            raise ValueError(f"{path}: not a saved chat (version {data.get('version')!r}, expected {FILE_VERSION})")
        self.clear()
        options = data.get("options", {})
        with self.hold_sync():
            if data.get("model"):
                self.model = data["model"]
                if self.model not in self.models:
                    self.models = [*self.models, self.model]
            self.system = data.get("system", "")
            self.temperature = options.get("temperature", self.temperature)
            self.max_tokens = options.get("max_tokens", self.max_tokens)
            self.think = options.get("think", self.think)
            self.messages = [_rendered(m) for m in data.get("messages", [])]
        return self

    def __repr__(self) -> str:  # avoid serialising every trait for a repr
        return f"<Chat {self.model or 'no model'}: {len(self.messages)} messages, {self.status}>"

    # ------------------------------------------------------------------- generation (background thread)

    def _generate(self, model: str, request: list[dict[str, str]], options: dict[str, Any], think: bool) -> None:
        content = thinking = ""
        tokens, final, error = 0, None, None
        started = time.perf_counter()
        first: float | None = None
        response = None
        try:
            response = self.client.chat(model, request, options=options, think=True if think else None)
            for chunk in response:
                if chunk.content or chunk.thinking:
                    tokens += 1
                    first = first or time.perf_counter()
                content += chunk.content
                thinking += chunk.thinking
                if chunk.done:
                    final = chunk
                    break
                if self._stop.is_set():
                    break
                if chunk.content or chunk.thinking:
                    if self.status == "waiting":
                        self.status = "streaming"
                    self.pending = {"role": "assistant", "model": model, "content": content,
                                    "html": to_html(content), "thinking": thinking}
        except MullamaError as e:
            error = e.describe()
        except Exception as e:  # noqa: BLE001 - shown in the panel instead of lost in a thread's log
            error = f"{type(e).__name__}: {e}"
        finally:
            if response is not None:
                response.close()  # a stop: tell the manager to stop generating
        stopped = final is None and error is None
        reply = {"role": "assistant", "model": model, "content": content, "html": to_html(content),
                 "thinking": thinking, "stats": _stats(final, tokens, first, started, stopped)}
        if stopped:
            reply["stopped"] = True
        with self.hold_sync():
            if content or thinking or stopped:
                self._append(reply, notify=False)
            if error:
                self._append({"role": "error", "content": error}, notify=False)
            self.pending = {}
            self.status = "idle"
        if content or thinking or stopped:
            self._notify(reply)

    # ------------------------------------------------------------------- plumbing

    def _append(self, message: dict[str, Any], notify: bool = True) -> None:
        self.messages = [*self.messages, message]
        if notify:
            self._notify(message)

    def _notify(self, message: dict[str, Any]) -> None:
        for callback in list(self._callbacks):
            try:
                callback(dict(message))
            except Exception as e:  # noqa: BLE001 - a broken callback must not break the chat
                self._append({"role": "error", "content": f"on_message callback failed: {type(e).__name__}: {e}"},
                             notify=False)

    def _error(self, text: str) -> None:
        self._append({"role": "error", "content": text}, notify=False)

    def _on_front_end(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type")
        try:
            if kind == "send":
                self.send(str(content.get("text", "")))
            elif kind == "stop":
                self.stop()
            elif kind == "clear":
                self.clear()
            elif kind == "refresh":
                self.refresh_models()
        except (MullamaError, ValueError, RuntimeError) as e:
            self._error(e.describe() if isinstance(e, MullamaError) else str(e))


def _rendered(message: dict[str, Any]) -> dict[str, Any]:
    m = dict(message)
    if m.get("role") == "assistant":
        m["html"] = to_html(m.get("content", ""))
    return m


def _stats(final: Any, tokens: int, first: float | None, started: float, stopped: bool) -> str:
    """"24 tokens · 85.1 tok/s · 0.6 s": the manager's figures when the reply ended, ours after a stop."""
    elapsed = time.perf_counter() - started
    metrics = getattr(final, "metrics", None)
    if metrics is not None and metrics.eval_count:
        count = metrics.eval_count
        rate = count / (metrics.eval_duration / 1e9) if metrics.eval_duration else 0.0
    else:
        count = tokens
        span = time.perf_counter() - first if first else 0.0
        rate = (tokens - 1) / span if tokens > 1 and span > 0 else 0.0
    parts = ["stopped"] if stopped else []
    if getattr(final, "done_reason", None) == "length":
        parts.append("max tokens reached")
    parts.append(f"{count} token{'s' if count != 1 else ''}")
    if rate:
        parts.append(f"{rate:.1f} tok/s")
    parts.append(f"{elapsed:.1f} s")
    return " · ".join(parts)


def _source(client: Client) -> str:
    try:
        return client.describe().split(" (")[0].split(",")[0]
    except MullamaError as e:
        return f"{client.mode}: {e.message}"

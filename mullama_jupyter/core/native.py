"""The one native request/stream model.

Every surface translates to and from these types: the Ollama routes, the OpenAI and Anthropic
routes, the magics, the widgets and the CLI. ``generate`` and ``chat`` are both a
``CompletionRequest`` (generate's prompt is one user message, unless ``raw``), and both stream
``Chunk`` objects whose last one has ``done=True`` and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""
    index: int = 0


@dataclass
class Message:
    role: str
    content: str = ""
    thinking: str = ""
    images: list[str] = field(default_factory=list)  # base64, as the wire carries them
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_name: str | None = None


@dataclass
class CompletionRequest:
    model: str
    messages: list[Message] = field(default_factory=list)
    raw_prompt: str | None = None  # generate with raw=True: sent to the model untouched
    system: str | None = None  # generate's per-request SYSTEM override
    template: str | None = None  # generate's per-request TEMPLATE override (Ollama's Go dialect)
    suffix: str | None = None  # generate's fill-in-the-middle suffix (templates that use .Suffix)
    context: list[int] | None = None  # generate's (deprecated) token context to continue from
    tools: list[dict[str, Any]] = field(default_factory=list)
    # "auto" (the model decides; calls are parsed from its output), "none" (tools are only context),
    # "required" (it must call one) or {"name": ...} (it must call that one): the last two are
    # enforced with a grammar, so even a model without a tool format produces a valid call.
    tool_choice: str | dict[str, Any] = "auto"
    format: Any = None  # None, "json" or a JSON-schema dict
    options: dict[str, Any] = field(default_factory=dict)  # validated, see options.validate_options
    keep_alive: float | None = None  # seconds; None = the manager's default; math.inf = forever
    think: bool | str | None = None
    want_context: bool = False  # generate returns the token context on its final chunk
    # None: no log probabilities. n >= 0: each generated token's logprob, plus its n likeliest alternatives
    # (OpenAI's logprobs/top_logprobs). Chunks then carry ``logprobs``, one entry per token in ``content``.
    logprobs: int | None = None
    debug_render_only: bool = False  # answer with the rendered prompt instead of generating

    @property
    def is_empty(self) -> bool:
        """No prompt at all: Ollama's way of asking to load (or, with keep_alive 0, unload)."""
        return not self.messages and not self.raw_prompt and not self.context


@dataclass
class Metrics:
    """Durations in integer nanoseconds, counts in tokens (Ollama's wire units)."""

    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    bytes: list[int] = field(default_factory=list)
    top: list[tuple[str, float]] = field(default_factory=list)  # likeliest alternatives, best first


@dataclass
class Chunk:
    content: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    done: bool = False
    done_reason: str | None = None  # "stop" | "length" | "load" | "unload"
    stop_sequence: str | None = None  # on the final chunk: the stop sequence that ended the text, if one did
    logprobs: list[TokenLogprob] = field(default_factory=list)  # when the request asked for them
    metrics: Metrics | None = None
    context: list[int] | None = None


@dataclass
class EmbedRequest:
    model: str
    inputs: list[str]
    truncate: bool = True
    dimensions: int | None = None
    normalize: bool = True  # Ollama's /api/embeddings (legacy) returns raw vectors
    options: dict[str, Any] = field(default_factory=dict)
    keep_alive: float | None = None


@dataclass
class EmbedResult:
    embeddings: list[list[float]]
    prompt_eval_count: int = 0
    total_duration: int = 0
    load_duration: int = 0


@dataclass
class Progress:
    """One pull step, in Ollama's ProgressResponse shape."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None

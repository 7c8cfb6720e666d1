"""Chat prompts: render a model's chat template over a list of messages, in a sandbox.

A GGUF's ``tokenizer.chat_template`` is text from whoever made the file, so it renders in Jinja's
``ImmutableSandboxedEnvironment`` (CVE-2024-34359 was an unsandboxed render). The variables follow
Hugging Face's chat-template contract, which is what the templates inside GGUFs are written for.
Ollama's Go-template dialect (Modelfile ``TEMPLATE``) gets its own renderer in a later change; this
module is the seam it plugs into (``render_prompt``).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TemplateError
from .native import Message

# Used when a GGUF has no chat template and nothing else supplies one. It is plain on purpose:
# a wrong special-token format is worse than none (llama-cpp-python falls back to Llama 2's).
FALLBACK_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


class _GenerationTag(jinja2.ext.Extension):
    """Hugging Face's ``{% generation %}`` marker: pass its body through."""

    tags = {"generation"}

    def parse(self, parser):  # type: ignore[no-untyped-def]
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise(message: str) -> None:
    raise TemplateError(str(message))


@lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTag, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    try:
        return env.from_string(source)
    except jinja2.TemplateError as e:
        raise TemplateError(f"chat template does not parse: {e}") from None


def message_dict(m: Message) -> dict[str, Any]:
    d: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.thinking:
        d["reasoning_content"] = m.thinking
    if m.tool_calls:
        d["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_name:
        d["name"] = m.tool_name
    return d


def render_chat(
    source: str,
    messages: Iterable[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = True,
) -> str:
    """Render a Jinja chat template. Any failure, a sandbox violation included, is a TemplateError."""
    template = _compile(source)
    try:
        return template.render(
            messages=[message_dict(m) for m in messages],
            bos_token=bos_token,
            eos_token=eos_token,
            tools=tools or None,
            add_generation_prompt=add_generation_prompt,
            raise_exception=_raise,
            strftime_now=lambda fmt: datetime.now().strftime(fmt),
        )
    except TemplateError:
        raise
    except jinja2.exceptions.SecurityError as e:
        raise TemplateError(f"chat template tried an unsafe operation: {e}") from None
    except Exception as e:  # templates are foreign code: any error in them is a template error
        raise TemplateError(f"{type(e).__name__}: {e}") from None


def chat_messages(system: str | None, messages: list[Message]) -> list[Message]:
    """Ollama's rule: a model SYSTEM is prepended unless the request starts with its own."""
    if system and not (messages and messages[0].role == "system"):
        return [Message(role="system", content=system), *messages]
    return messages

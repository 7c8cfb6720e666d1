"""From a request and a model to the exact text the runner tokenizes.

Order of sources for the template (DESIGN.md, "Chat prompts"): the model's TEMPLATE layer (Ollama's
Go-template dialect — its renderer arrives with Modelfile support), else the GGUF's Jinja
``tokenizer.chat_template``, else a plain fallback. Capabilities (tools, thinking, embedding) are
read from the same sources, so requests a model cannot serve fail with Ollama's texts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidRequest
from .gguf import GGUFInfo
from .native import CompletionRequest, Message
from .store import ModelRecord
from .template import FALLBACK_TEMPLATE, chat_messages, render_chat


@dataclass(frozen=True)
class Prompt:
    text: str
    add_bos: bool  # False when the template writes the special tokens itself


def effective_template(record: ModelRecord, info: GGUFInfo) -> str:
    """What /api/show reports as the template: never empty."""
    return record.template or info.chat_template or FALLBACK_TEMPLATE


def capabilities(record: ModelRecord, info: GGUFInfo) -> list[str]:
    if info.pooling_type not in (None, 0, -1):
        return ["embedding"]
    template = effective_template(record, info)
    caps = ["completion"]
    if "tools" in template:
        caps.append("tools")
    if "<think>" in template or "enable_thinking" in template:
        caps.append("thinking")
    return caps


def check_request(record: ModelRecord, info: GGUFInfo, req: CompletionRequest, raw_name: str) -> None:
    caps = capabilities(record, info)
    if "completion" not in caps:
        raise InvalidRequest(f'"{raw_name}" does not support {"chat" if req.messages else "generate"}')
    if req.tools and "tools" not in caps:
        raise InvalidRequest(f"{record.name.full} does not support tools")
    if req.think and "thinking" not in caps:
        raise InvalidRequest(f'"{raw_name}" does not support thinking')


def build_prompt(record: ModelRecord, info: GGUFInfo, req: CompletionRequest) -> Prompt:
    if req.raw_prompt is not None:
        return Prompt(req.raw_prompt, add_bos=True)
    if req.template:
        raise InvalidRequest("a per-request template (Ollama's Go dialect) cannot be rendered by this version yet",
                             hint="leave template out to use the model's chat template")
    if record.template and not info.chat_template:
        raise InvalidRequest(
            "this model has only a Go TEMPLATE, which this version cannot render yet",
            hint="use a GGUF that carries its own chat template",
        )
    # A Go TEMPLATE (e.g. a model read from an Ollama store) with a Jinja template in its GGUF: the
    # GGUF's own template renders the same conversation until the Go renderer lands.
    baked = [Message(role=m.get("role", "user"), content=m.get("content", "")) for m in record.messages]
    system = req.system if req.system is not None else record.system
    messages = chat_messages(system, baked + req.messages)
    source = info.chat_template
    text = render_chat(
        source or FALLBACK_TEMPLATE,
        messages,
        bos_token=info.bos_token or "",
        eos_token=info.eos_token or "",
        tools=req.tools,
    )
    return Prompt(text, add_bos=not source)

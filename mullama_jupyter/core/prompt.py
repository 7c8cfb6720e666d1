"""From a request and a model to the exact text the runner tokenizes.

Order of sources for the template (DESIGN.md, "Chat prompts"): the model's TEMPLATE layer (Ollama's
Go-template dialect — its renderer arrives with Modelfile support), else the GGUF's Jinja
``tokenizer.chat_template``, else a plain fallback. Capabilities (tools, thinking, embedding) are
read from the same sources, so requests a model cannot serve fail with Ollama's texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    """What the model can do: from its GGUF and template, overridden by Modelfile CAPABILITY lines."""
    if info.pooling_type not in (None, 0, -1):
        return ["embedding"]
    template = effective_template(record, info)
    settings = record.settings
    caps = {"completion"}
    if record.template:
        from .ollama_template import capabilities as go_capabilities

        caps |= go_capabilities(record.template)
    if "tools" in template or settings.get("toolformat"):
        caps.add("tools")
    if "<think>" in template or "enable_thinking" in template or settings.get("thinking", {}).get("enabled"):
        caps.add("thinking")
    if record.projector is not None:
        caps.add("vision")
    for name, on in settings.get("capabilities", {}).items():
        if name == "json":
            continue  # constrained JSON works on every model; nothing to report
        (caps.add if on else caps.discard)(name)
    order = ["completion", "tools", "insert", "vision", "embedding", "thinking"]
    return [c for c in order if c in caps]


def thinking_markers(record: ModelRecord, info: GGUFInfo) -> tuple[str, str] | None:
    """The tags around thinking in this model's output, if it thinks."""
    cfg = record.settings.get("thinking") or {}
    if cfg.get("enabled") is False:
        return None
    if cfg.get("start") or cfg.get("end") or cfg.get("enabled"):
        return cfg.get("start", "<think>"), cfg.get("end", "</think>")
    if "<think>" in effective_template(record, info):
        return "<think>", "</think>"
    return None


def tool_markers(record: ModelRecord, info: GGUFInfo) -> dict[str, str] | None:
    """TOOLFORMAT from the Modelfile, else the Qwen/Hermes ``<tool_call>`` form when the template uses it."""
    cfg = record.settings.get("toolformat") or {}
    if cfg:
        return {k: v for k, v in cfg.items() if k != "style"}
    if "<tool_call>" in effective_template(record, info):
        return {}
    return None


def check_request(record: ModelRecord, info: GGUFInfo, req: CompletionRequest, raw_name: str) -> None:
    caps = capabilities(record, info)
    if req.suffix is not None and "insert" not in caps:
        raise InvalidRequest(f"{record.name.full} does not support insert")
    if "completion" not in caps:
        raise InvalidRequest(f'"{raw_name}" does not support {"chat" if req.messages else "generate"}')
    if not isinstance(req.tool_choice, (str, dict)) or req.tool_choice not in ("auto", "none", "required") \
            and not (isinstance(req.tool_choice, dict) and isinstance(req.tool_choice.get("name"), str)):
        raise InvalidRequest('tool_choice must be "auto", "none", "required" or a tool name')
    if req.tool_choice not in ("auto", "none") and not req.tools:
        raise InvalidRequest("tool_choice asks for a tool call, but no tools were given")
    if isinstance(req.tool_choice, dict) and req.tool_choice["name"] not in _tool_names(req.tools):
        raise InvalidRequest(f'tool_choice names "{req.tool_choice["name"]}", which is not among the tools')
    # A forced tool call (required / named) is produced by a grammar, so any model can make one; with
    # "none" the tools are only context, which a template without tools simply leaves out.
    if req.tools and req.tool_choice != "none" and "tools" not in caps and not forced_tool(req):
        raise InvalidRequest(f"{record.name.full} does not support tools")
    if req.think and "thinking" not in caps:
        raise InvalidRequest(f'"{raw_name}" does not support thinking')


def _tool_names(tools: list[dict[str, Any]]) -> list[str]:
    return [str((t.get("function") or {}).get("name", "")) for t in tools if isinstance(t, dict)]


def forced_tool(req: CompletionRequest) -> dict[str, Any] | None:
    """For ``tool_choice`` required or named: the JSON schema of the call the model must write."""
    if req.tool_choice in ("auto", "none") or not req.tools:
        return None
    wanted = req.tool_choice.get("name") if isinstance(req.tool_choice, dict) else None
    options = []
    for tool in req.tools:
        fn = tool.get("function") or {}
        if wanted and fn.get("name") != wanted:
            continue
        params = fn.get("parameters") or {"type": "object"}
        options.append({"type": "object", "properties": {"name": {"const": fn.get("name", "")}, "arguments": params},
                        "required": ["name", "arguments"]})
    if not options:
        return None
    return options[0] if len(options) == 1 else {"oneOf": options}


def build_prompt(record: ModelRecord, info: GGUFInfo, req: CompletionRequest) -> Prompt:
    if req.raw_prompt is not None:
        return Prompt(req.raw_prompt, add_bos=True)
    baked = [Message(role=m.get("role", "user"), content=m.get("content", "")) for m in record.messages]
    system = req.system if req.system is not None else record.system
    messages = chat_messages(system, baked + _wrap_tool_results(record, req.messages))
    go_template = req.template or record.template
    if go_template:
        # Ollama's dialect, rendered as Ollama renders it; the tokenizer adds BOS as the model wants.
        from .ollama_template import render

        text = render(go_template, messages, tools=req.tools or None, think=req.think, suffix=req.suffix,
                      prompt=req.messages[-1].content if req.suffix is not None and req.messages else None)
        return Prompt(text, add_bos=True)
    source = info.chat_template
    text = render_chat(
        source or FALLBACK_TEMPLATE,
        messages,
        bos_token=info.bos_token or "",
        eos_token=info.eos_token or "",
        tools=req.tools,
    )
    return Prompt(text, add_bos=not source)


def _wrap_tool_results(record: ModelRecord, messages: list[Message]) -> list[Message]:
    """TOOLFORMAT result markers around tool results, for templates that do not add them."""
    cfg = record.settings.get("toolformat") or {}
    start, end = cfg.get("result_start"), cfg.get("result_end")
    if not (start or end):
        return messages
    return [Message(m.role, f"{start or ''}{m.content}{end or ''}", m.thinking, m.images, m.tool_calls, m.tool_name)
            if m.role == "tool" else m for m in messages]

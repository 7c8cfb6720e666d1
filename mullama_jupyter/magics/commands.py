"""The ``%mullama`` subcommands: one argparse parser each, so ``%mullama help``, ``%mullama CMD --help``
and docs/magics.md all come from these definitions.

Parsers never exit the kernel: a usage error is a ``UsageError`` (one line, no traceback), and
``--help`` prints and stops the command.
"""

from __future__ import annotations

import argparse
import functools
import json
from typing import Any

from IPython.core.error import UsageError

from .result import FORMATS


class HelpShown(Exception):
    """``--help`` was printed; the command has nothing more to do."""


class MagicParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if status == 0:
            raise HelpShown()
        raise UsageError((message or "invalid arguments").strip())


# (name, cell body meaning or None, one-line help)
COMMANDS: list[tuple[str, str | None, str]] = [
    ("run", "the prompt", "answer a prompt, streaming into the output"),
    ("chat", "the next message", "a conversation that remembers earlier cells (per --session)"),
    ("history", None, "show a chat session's messages"),
    ("reset", None, "forget a chat session's messages"),
    ("last", None, "the last answer's model, tokens and timings"),
    ("pull", None, "pull a model (progress bar in notebooks)"),
    ("list", None, "models in the store"),
    ("show", None, "a model's details, or its Modelfile"),
    ("create", "the Modelfile", "create a model from a Modelfile"),
    ("cp", None, "copy a model"),
    ("rm", None, "remove models"),
    ("ps", None, "loaded models"),
    ("stop", None, "unload a model now"),
    ("embed", None, "embed texts; returns a numpy array"),
    ("aliases", None, "the known model names"),
    ("status", None, "which manager this kernel uses"),
    ("connect", None, "use another manager: a server URL, the embedded one, or automatic"),
    ("config", None, "the magics' settings (change them with %config MullamaMagics.<name> = ...)"),
    ("help", None, "this overview, or one command's help"),
]


def _generation(p: MagicParser) -> None:
    g = p.add_argument_group("generation")
    g.add_argument("-n", "--num-predict", type=int, metavar="N", help="most tokens to generate")
    g.add_argument("-t", "--temperature", type=float, metavar="T", help="sampling temperature (0 = greedy)")
    g.add_argument("--seed", type=int, help="random seed, for reproducible sampling")
    g.add_argument("--system", metavar="TEXT", help="system prompt")
    g.add_argument("--format", choices=FORMATS,
                   help="how to show the answer: markdown (default), text, code (also inserted as the next cell), "
                        "json (generation constrained to JSON, validated, shown as JSON) or html")
    g.add_argument("--think", nargs="?", const=True, choices=["low", "medium", "high"],
                   help="let a thinking model think first (optionally how hard); shown in a collapsible block")
    g.add_argument("-o", "--options", action="append", default=[], metavar="JSON",
                   help="model options as a JSON object, e.g. '{\"top_k\": 20}' (or key=value; repeatable)")
    g.add_argument("--keepalive", metavar="DURATION", help="how long the model stays loaded afterwards, e.g. 10m")
    o = p.add_argument_group("result")
    o.add_argument("-v", "--var", metavar="NAME", help="also store the answer in this variable")
    o.add_argument("--no-interpolate", action="store_true",
                   help="send the prompt as written: no {name}, {In[n]}, {Out[n]}, {Err[n]} substitution")


def _session(p: MagicParser) -> None:
    p.add_argument("--session", metavar="NAME", help="the conversation (default: 'default')")


@functools.cache
def build() -> dict[str, MagicParser]:
    """Every command's parser, made once (parsing keeps no state in them)."""
    parsers: dict[str, MagicParser] = {}
    helps = {name: text for name, _, text in COMMANDS}

    def new(name: str, cell: bool = False, **kw: Any) -> MagicParser:
        prog = f"%{'%' if cell else ''}mullama {name}"
        p = parsers[name] = MagicParser(prog=prog, description=helps[name], **kw)
        return p

    p = new("run", cell=True, epilog="In a cell, the prompt is the cell's body; on one line, quote it: "
                                     "%mullama run MODEL \"prompt\".")
    p.add_argument("model", nargs="?", help="the model (default: %%config MullamaMagics.default_model)")
    p.add_argument("prompt", nargs="?", help="the prompt, when used as a line magic")
    p.add_argument("--raw", action="store_true", help="send the prompt without the chat template")
    _generation(p)

    p = new("chat", cell=True, epilog="Each cell adds a user message and the answer to the session's history.")
    p.add_argument("model", nargs="?", help="the model (default: the session's, else the default model)")
    p.add_argument("prompt", nargs="?", help="the message, when used as a line magic")
    _session(p)
    p.add_argument("--persist", action="store_true",
                   help="keep the session in mullama-chat-<session>.json here, so it survives a kernel restart")
    p.add_argument("--widget", action="store_true",
                   help="open the chat panel (streaming, Stop, model picker) instead of answering one message")
    _generation(p)

    for name in ("history", "reset"):
        _session(new(name))
    new("last")

    p = new("pull")
    p.add_argument("model", help="an alias (llama3.2:1b), hf:owner/repo[:QUANT|:file.gguf][@rev], or a .gguf path")
    p.add_argument("--digest", metavar="sha256:HEX", help="pin the model file's sha256")
    new("list")
    p = new("show")
    p.add_argument("model")
    p.add_argument("--modelfile", action="store_true", help="print its Modelfile")
    p = new("create", cell=True, epilog="As a cell magic the Modelfile is the cell's body; FROM paths resolve "
                                         "from the notebook's folder.")
    p.add_argument("model", help="name of the new model")
    p.add_argument("-f", "--file", help="the Modelfile (line magic)")
    p = new("cp")
    p.add_argument("source")
    p.add_argument("destination")
    p = new("rm")
    p.add_argument("models", nargs="+", metavar="model")
    new("ps")
    p = new("stop")
    p.add_argument("model")
    p = new("embed")
    p.add_argument("model")
    p.add_argument("texts", nargs="+", metavar="text")
    p.add_argument("--dimensions", type=int, metavar="N", help="keep the first N dimensions (re-normalised)")
    new("aliases")
    new("status")
    p = new("connect", epilog="With no arguments: find the manager again (MULLAMA_HOST, mullama serve, a running "
                              "Jupyter server, else embedded).")
    p.add_argument("url", nargs="?", help="a server: the Jupyter extension ({server}/mullama) or mullama serve")
    p.add_argument("--token", help="its token (default: $MULLAMA_TOKEN)")
    p.add_argument("--embedded", action="store_true", help="run models inside this kernel")
    new("config")
    p = new("help")
    p.add_argument("command", nargs="?", help="a command to explain")
    return parsers


def overview() -> str:
    """``%mullama help``: every command with its usage and purpose."""
    parsers = build()
    lines = ["Usage: %mullama COMMAND [ARGS]   (cell magics: %%mullama run | chat | create)", ""]
    for name, body, text in COMMANDS:
        lines.append(brief_usage(parsers[name]))
        lines.append(f"    {text}" + (f"; in a cell, the body is {body}" if body else ""))
    lines += ["", "Prompts may use {name}, {name.attr}, {In[n]}, {Out[n]} and {Err[n]}; {{name}} writes {name}.",
              "%mullama COMMAND --help explains one command."]
    return "\n".join(lines)


def brief_usage(parser: MagicParser) -> str:
    """``%%mullama run [options] [model] [prompt]``: the full option list is in ``--help``."""
    parts = [parser.prog]
    if any(a.option_strings and a.dest != "help" for a in parser._actions):
        parts.append("[options]")
    for a in parser._actions:
        if a.option_strings:
            continue
        name = a.metavar or a.dest
        parts.append(f"[{name}]" if a.nargs == "?" else f"{name} [{name} ...]" if a.nargs == "+" else name)
    return " ".join(parts)


def options(values: list[str]) -> dict[str, Any]:
    """``-o`` values: JSON objects, or key=value with the value read as JSON when it parses."""
    out: dict[str, Any] = {}
    for value in values:
        text = value.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise UsageError(f"-o {value!r} is not a JSON object: {e}") from None
            if not isinstance(obj, dict):
                raise UsageError(f"-o {value!r} must be a JSON object")
            out.update(obj)
            continue
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise UsageError(f"-o {value!r} must be a JSON object or key=value, e.g. -o '{{\"temperature\": 0.2}}'")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out

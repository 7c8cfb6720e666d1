"""IPython magics: ``%mullama list|pull|show|rm|cp|ps|stop|status`` and ``%%mullama run MODEL``.

The kernel reaches the manager through ``Client``: the Jupyter extension's URL and token arrive in
``MULLAMA_HOST``/``MULLAMA_TOKEN``; without a server, an embedded manager runs in the kernel.
Errors are ``UsageError`` with one actionable line (IPython prints no traceback for it).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from . import display
from .core.durations import keep_alive_flag
from .core.errors import MullamaError
from .core.native import Message

USAGE = """\
%mullama list                      models in the store
%mullama pull MODEL                pull a model: an alias (llama3.2:1b, llama3.2:1b-q8),
                                   hf:owner/repo[:QUANT|:file.gguf][@rev], or a path to a .gguf file
%mullama aliases                   the known model names
%mullama show MODEL [--modelfile]  a model's details
%mullama cp SOURCE DESTINATION     copy a model
%mullama rm MODEL [MODEL ...]      remove models
%mullama ps                        loaded models
%mullama stop MODEL                unload a model now
%mullama status                    which manager this kernel uses

%%mullama run MODEL [--system TEXT] [-o key=value ...] [--format json] [--keepalive 5m]
PROMPT                             stream the answer into the cell's output

%%mullama create NAME
MODELFILE                          create a model from the Modelfile in the cell (paths are
                                   relative to the notebook's working directory)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would sys.exit() the kernel
        raise UsageError(f"{message}\n\n{USAGE}")


def _run_parser() -> _Parser:
    p = _Parser(prog="%%mullama run", add_help=False)
    p.add_argument("model")
    p.add_argument("--system")
    p.add_argument("-o", "--option", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("--keepalive")
    return p


def _options(pairs: list[str]) -> dict[str, Any]:
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"option {pair!r} must look like key=value, e.g. -o temperature=0.2")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _in_notebook(shell: Any) -> bool:
    """A kernel with a front end that can draw widgets (not terminal IPython)."""
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


@magics_class
class MullamaMagics(Magics):
    """The ``%mullama`` line magic and ``%%mullama`` cell magic."""

    _client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from .client import Client

            self._client = Client()
        return self._client

    @line_cell_magic
    def mullama(self, line: str, cell: str | None = None) -> Any:
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"cannot parse the magic's arguments: {e}") from None
        if not argv or argv[0] in ("help", "-h", "--help"):
            print(USAGE)
            return None
        command, rest = argv[0], argv[1:]
        try:
            if cell is not None:
                if command == "create":
                    return self._create(rest, cell)
                if command != "run":
                    raise UsageError(f"%%mullama supports 'run MODEL' and 'create NAME', not {command!r}\n\n{USAGE}")
                return self._run(rest, cell)
            handler = getattr(self, f"_cmd_{command}", None)
            if handler is None:
                raise UsageError(f"unknown command {command!r}\n\n{USAGE}")
            return handler(rest)
        except MullamaError as e:
            raise UsageError(e.describe()) from None

    # ------------------------------------------------------------------- commands

    def _need(self, rest: list[str], n: int, usage: str) -> list[str]:
        if len(rest) != n:
            raise UsageError(f"usage: %mullama {usage}")
        return rest

    def _cmd_list(self, rest: list[str]) -> None:
        print(display.models_table(self.client.list()))

    def _cmd_ps(self, rest: list[str]) -> None:
        print(display.ps_table(self.client.ps()))

    def _cmd_pull(self, rest: list[str]) -> None:
        (spec,) = self._need(rest, 1, "pull MODEL")
        if _in_notebook(self.shell):
            from IPython.display import display as show_widget

            from .widgets import PullProgress

            bar = PullProgress(spec)
            show_widget(bar)
            try:
                for p in self.client.pull(spec):
                    bar.update(p)
            except MullamaError as e:
                bar.fail(e.message)
                raise
            return
        show = display.ProgressPrinter(sys.stdout, live=False)
        for p in self.client.pull(spec):
            show(p)

    def _cmd_aliases(self, rest: list[str]) -> None:
        print(display.aliases_table(self.client.aliases()))

    def _cmd_show(self, rest: list[str]) -> None:
        modelfile = "--modelfile" in rest
        (name,) = self._need([r for r in rest if r != "--modelfile"], 1, "show MODEL [--modelfile]")
        info = self.client.show(name)
        print(info["modelfile"] if modelfile else display.show_text(info), end="")

    def _cmd_cp(self, rest: list[str]) -> None:
        src, dst = self._need(rest, 2, "cp SOURCE DESTINATION")
        self.client.copy(src, dst)
        print(f"copied '{src}' to '{dst}'")

    def _cmd_rm(self, rest: list[str]) -> None:
        if not rest:
            raise UsageError("usage: %mullama rm MODEL [MODEL ...]")
        for name in rest:
            self.client.delete(name)
            print(f"deleted '{name}'")

    def _cmd_stop(self, rest: list[str]) -> None:
        (name,) = self._need(rest, 1, "stop MODEL")
        self.client.unload(name)

    def _cmd_status(self, rest: list[str]) -> None:
        print(f"mullama: {self.client.describe()}")

    def _cmd_run(self, rest: list[str]) -> None:
        raise UsageError("run takes its prompt from the cell body: use %%mullama run MODEL on the first line")

    def _create(self, rest: list[str], cell: str) -> None:
        (name,) = self._need(rest, 1, "create NAME (with the Modelfile in the cell)")
        if not cell.strip():
            raise UsageError("the cell is empty: write the Modelfile below %%mullama create NAME")
        show = display.ProgressPrinter(sys.stdout, live=False)
        for p in self.client.create(name, cell, base_dir="."):
            show(p)

    def _run(self, rest: list[str], cell: str) -> None:
        args = _run_parser().parse_args(rest)
        prompt = cell.strip()
        if not prompt:
            raise UsageError("the cell is empty: write the prompt below %%mullama run MODEL")
        messages = ([Message("system", args.system)] if args.system else []) + [Message("user", prompt)]
        response = self.client.chat(args.model, messages, options=_options(args.option) or None,
                                    keep_alive=keep_alive_flag(args.keepalive), format=args.format)
        try:
            for chunk in response:
                if chunk.content:
                    sys.stdout.write(chunk.content)
                    sys.stdout.flush()
        finally:
            response.close()  # an interrupted cell stops the generation too
        sys.stdout.write("\n")

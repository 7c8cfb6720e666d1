"""IPython magics: ``%mullama COMMAND`` and ``%%mullama run | chat | create``.

The kernel reaches the manager through ``Client``: the Jupyter extension's URL and token arrive in
``MULLAMA_HOST``/``MULLAMA_TOKEN``; without them, ``mullama serve`` or a running Jupyter server when
one answers; otherwise an embedded manager runs in the kernel. ``%mullama connect`` overrides that.
Errors are ``UsageError`` with one actionable line (IPython prints no traceback for it), so "Run all"
stops at the failing cell.
"""

from __future__ import annotations

import difflib
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Enum, Float, Unicode

from .. import display
from ..core.durations import keep_alive_flag
from ..core.errors import ModelNotFound, MullamaError, Unreachable
from ..core.native import Message
from ..core.system import human_bytes
from . import commands
from .commands import HelpShown
from .interpolate import interpolate
from .live import LiveView
from .result import FORMATS, MullamaResult, extract_code, parse_json
from .sessions import SessionError, Sessions

__all__ = ["MullamaMagics", "MullamaResult", "usage"]


def usage() -> str:
    return commands.overview()


def _in_notebook(shell: Any) -> bool:
    """A kernel with a front end that can draw widgets and update displays (not terminal IPython)."""
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


@magics_class
class MullamaMagics(Magics):
    """The ``%mullama`` line magic and ``%%mullama`` cell magic."""

    default_model = Unicode("", config=True,
                            help="Model used when a run or chat names none (empty: a model must be named).")
    default_format = Enum(FORMATS, "markdown", config=True,
                          help="How answers are shown when --format is not given.")
    host = Unicode("", config=True,
                   help="Manager URL (the Jupyter extension's .../mullama or mullama serve). Empty: found "
                        "automatically from MULLAMA_HOST, mullama serve, a running Jupyter server, else embedded.")
    token = Unicode("", config=True, help="Token for `host` (empty: $MULLAMA_TOKEN).")
    interpolate = Bool(True, config=True,
                       help="Substitute {name}, {name.attr}, {In[n]}, {Out[n]}, {Err[n]} in prompts.")
    display_interval = Float(0.1, config=True,
                             help="Seconds between updates of a streaming answer in a notebook.")
    output = Enum(["auto", "notebook", "terminal"], "auto", config=True,
                  help="Where answers stream: 'notebook' updates a display in place, 'terminal' writes "
                       "to stdout; 'auto' picks by the front end.")

    def __init__(self, shell: Any = None, **kwargs: Any):
        super().__init__(shell, **kwargs)
        self.sessions = Sessions()
        self.last: MullamaResult | None = None
        self.last_view: LiveView | None = None
        self._client: Any = None
        self._embedded = False
        if shell is not None:
            shell.user_ns.setdefault("Err", {})
            shell.events.register("post_run_cell", self._record_error)

    def close(self) -> None:
        if self.shell is not None:
            try:
                self.shell.events.unregister("post_run_cell", self._record_error)
            except ValueError:
                pass
            if self in self.shell.configurables:
                self.shell.configurables.remove(self)

    # ------------------------------------------------------------------- plumbing

    @property
    def client(self) -> Any:
        if self._client is None:
            from ..client import Client

            if self._embedded:
                self._client = Client(embedded=True)
            elif self.host:
                self._client = Client(host=self.host, token=self.token or None)
            else:
                self._client = Client()
        return self._client

    def _record_error(self, result: Any) -> None:
        """``Err[n]``: what cell n raised, for prompts like "why does this fail: {Err[5]}"."""
        error = result.error_in_exec or result.error_before_exec
        if error is None or self.shell is None:
            return
        import traceback

        count = result.execution_count
        if count is not None:
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.shell.user_ns.setdefault("Err", {})[count] = text

    def _notebook(self) -> bool:
        return self.output == "notebook" or (self.output == "auto" and _in_notebook(self.shell))

    @line_cell_magic
    def mullama(self, line: str, cell: str | None = None) -> Any:
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"cannot parse the magic's arguments: {e}") from None
        if not argv or argv[0] in ("-h", "--help"):
            argv = ["help"]
        command, rest = argv[0], argv[1:]
        parsers = commands.build()
        if command not in parsers:
            close = difflib.get_close_matches(command, parsers, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"unknown command {command!r}{hint} (%mullama help lists them)")
        if cell is not None and command not in ("run", "chat", "create"):
            raise UsageError(f"%%mullama supports run, chat and create, not {command!r} (use %mullama {command})")
        try:
            args = parsers[command].parse_args(rest)
            return getattr(self, f"_cmd_{command}")(args, cell)
        except HelpShown:
            return None
        except SessionError as e:
            raise UsageError(str(e)) from None
        except ModelNotFound as e:
            raise UsageError(self._not_found(e)) from None
        except Unreachable as e:
            raise UsageError(f"{e.message} (start one with `mullama serve`, choose another with %mullama connect URL, "
                             "or run models in this kernel with %mullama connect --embedded)") from None
        except MullamaError as e:
            raise UsageError(e.describe()) from None

    def _not_found(self, e: ModelNotFound) -> str:
        name = e.name or _quoted(e.message)
        if not name:
            return e.describe()
        try:
            known = [a["name"] for a in self.client.aliases()]
            local = [m["name"] for m in self.client.list()["models"]]
        except MullamaError:
            known, local = [], []
        if name in known or name.removesuffix(":latest") in known:
            return f"{e.message}; pull it with: %mullama pull {name}"
        # A local model is the likelier intent than one that would need a download.
        close = difflib.get_close_matches(name, local, n=1, cutoff=0.5) or \
            difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        if close:
            return f"{e.message}; did you mean {close[0]!r}? (%mullama list shows local models)"
        return f"{e.message} (%mullama list shows local models, %mullama aliases the names %mullama pull knows)"

    # ------------------------------------------------------------------- generation

    def _cmd_run(self, args: Any, cell: str | None) -> MullamaResult:
        prompt = self._prompt(args, cell, "run")
        return self._generate(args, prompt, session=None)

    def _cmd_chat(self, args: Any, cell: str | None) -> Any:
        if args.widget:
            from ..widgets import Chat

            return Chat(args.model or self.default_model or None, client=self.client)
        prompt = self._prompt(args, cell, "chat")
        session = self.sessions.get(args.session, persist=args.persist)
        return self._generate(args, prompt, session=session)

    def _prompt(self, args: Any, cell: str | None, command: str) -> str:
        if cell is not None:
            if args.prompt is not None:
                raise UsageError(f"%%mullama {command} takes the prompt from the cell body only; "
                                 f"unexpected argument {args.prompt!r}")
            text = cell
        else:
            # On one line: MODEL "prompt", or just "prompt" when a model is known already.
            known = self.default_model or (command == "chat" and self.sessions.get(args.session).model)
            if args.prompt is None and args.model is not None and known:
                args.model, args.prompt = None, args.model
            if args.prompt is None:
                raise UsageError(f'write the prompt in the cell (%%mullama {command} MODEL) '
                                 f'or quote it: %mullama {command} MODEL "prompt"')
            text = args.prompt
        if not text.strip():
            raise UsageError(f"the cell is empty: write the prompt below %%mullama {command} MODEL")
        if self.interpolate and not args.no_interpolate and self.shell is not None:
            text = interpolate(text, self.shell.user_ns)
        return text.strip()

    def _generate(self, args: Any, prompt: str, session: Any) -> MullamaResult:
        model = args.model or (session.model if session is not None else None) or self.default_model
        if not model:
            raise UsageError("name a model (e.g. %%mullama run smollm2:135m), or set one: "
                             "%config MullamaMagics.default_model = 'smollm2:135m'")
        fmt = args.format or self.default_format
        options = commands.options(args.options)
        for key, value in (("num_predict", args.num_predict), ("temperature", args.temperature), ("seed", args.seed)):
            if value is not None:
                options[key] = value
        common: dict[str, Any] = {"options": options or None, "keep_alive": keep_alive_flag(args.keepalive),
                                  "format": "json" if fmt == "json" else None, "think": args.think}
        if session is not None:
            history = list(session.messages)
            if args.system:
                history = [m for m in history if m["role"] != "system"]
                history.insert(0, {"role": "system", "content": args.system})
            messages = history + [{"role": "user", "content": prompt}]
            response = self.client.chat(model, messages, **common)
        elif getattr(args, "raw", False):
            if args.system:
                raise UsageError("--raw sends the prompt as is; it cannot be combined with --system")
            response = self.client.generate(model, prompt, raw=True, **common)
        else:
            messages = ([Message("system", args.system)] if args.system else []) + [Message("user", prompt)]
            response = self.client.chat(model, messages, **common)
        view = self.last_view = LiveView(self._notebook(), self.display_interval)
        t0 = time.perf_counter()
        try:
            for chunk in response:
                view.thinking(chunk.thinking)
                view.content(chunk.content)
        except KeyboardInterrupt:
            response.close()  # closing the stream stops the runner at its next token
            view.stopped()
            text = "".join(view.text)
            self.last = MullamaResult.make(text, model=model, format=fmt, thinking="".join(view.thought),
                                           done_reason="interrupted")
            raise UsageError(f"interrupted: generation stopped after {time.perf_counter() - t0:.1f}s "
                             f"({len(text)} characters kept in %mullama last)") from None
        except BaseException:
            view.stopped()
            raise
        finally:
            response.close()
        text = "".join(view.text)
        result = MullamaResult.make(text, model=model, format=fmt, thinking="".join(view.thought),
                                    metrics=response.metrics, done_reason=response.done_reason,
                                    session=session.name if session is not None else None)
        result.streamed_as_text = not view.notebook
        self.last = result
        if fmt == "json":
            try:
                result.data = parse_json(text)
            except ValueError as e:
                view.stopped()
                hint = " (cut at the token limit: raise -n)" if response.done_reason == "length" else ""
                raise UsageError(f"{e}{hint}; the text is in %mullama last") from None
        view.finish()
        if session is not None:
            if session.model is None:
                session.model = model
            if args.system and not any(m["role"] == "system" for m in session.messages):
                session.messages.insert(0, {"role": "system", "content": args.system})
            session.add("user", prompt)
            session.add("assistant", text, thinking=result.thinking)
        if fmt == "code" and self.shell is not None:
            self.shell.set_next_input(extract_code(text), replace=False)
        if args.var and self.shell is not None:
            if not args.var.isidentifier():
                raise UsageError(f"--var {args.var!r} is not a valid Python name")
            self.shell.user_ns[args.var] = result
        return result

    def _cmd_history(self, args: Any, cell: str | None) -> None:
        print(self.sessions.get(args.session).transcript())

    def _cmd_reset(self, args: Any, cell: str | None) -> None:
        session = self.sessions.reset(args.session)
        print(f"session {session.name!r} cleared")

    def _cmd_last(self, args: Any, cell: str | None) -> None:
        r = self.last
        if r is None:
            print("nothing has run yet")
            return
        print(f"model: {r.model}" + (f"   session: {r.session}" if r.session else ""))
        print(f"finished: {r.done_reason or '-'}   characters: {len(r)}")
        if r.metrics is not None:
            print(display.metrics_text(r.metrics))

    # ------------------------------------------------------------------- models

    def _cmd_list(self, args: Any, cell: str | None) -> None:
        print(display.models_table(self.client.list()))

    def _cmd_ps(self, args: Any, cell: str | None) -> None:
        print(display.ps_table(self.client.ps()))

    def _cmd_pull(self, args: Any, cell: str | None) -> None:
        t0, sizes = time.perf_counter(), {}
        progress = self.client.pull(args.model, digest=args.digest)
        if self._notebook():
            from IPython.display import display as show_widget

            from ..widgets import PullProgress

            bar = PullProgress(args.model)
            show_widget(bar)
            try:
                for p in progress:
                    bar.update(p)
                    if p.digest and p.total:
                        sizes[p.digest] = p.total
            except MullamaError as e:
                bar.fail(e.message)
                raise
        else:
            show = display.ProgressPrinter(sys.stdout, live=False)
            for p in progress:
                show(p)
                if p.digest and p.total:
                    sizes[p.digest] = p.total
        print(f"pulled {args.model} ({human_bytes(sum(sizes.values()))}) in {time.perf_counter() - t0:.1f}s")

    def _cmd_aliases(self, args: Any, cell: str | None) -> None:
        print(display.aliases_table(self.client.aliases()))

    def _cmd_show(self, args: Any, cell: str | None) -> None:
        info = self.client.show(args.model)
        print(info["modelfile"] if args.modelfile else display.show_text(info), end="")

    def _cmd_create(self, args: Any, cell: str | None) -> None:
        if cell is not None:
            if args.file:
                raise UsageError("%%mullama create takes the Modelfile from the cell body, not -f")
            text, base = cell, Path(".")
        else:
            if not args.file:
                raise UsageError("give the Modelfile: %mullama create NAME -f FILE, or use %%mullama create NAME "
                                 "with the Modelfile in the cell")
            path = Path(args.file).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as e:
                raise UsageError(f"cannot read {args.file}: {e.strerror or e}") from None
            base = path.parent
        if not text.strip():
            raise UsageError("the Modelfile is empty: write it below %%mullama create NAME")
        show = display.ProgressPrinter(sys.stdout, live=False)
        for p in self.client.create(args.model, text, base_dir=base):
            show(p)

    def _cmd_cp(self, args: Any, cell: str | None) -> None:
        self.client.copy(args.source, args.destination)
        print(f"copied '{args.source}' to '{args.destination}'")

    def _cmd_rm(self, args: Any, cell: str | None) -> None:
        for name in args.models:
            self.client.delete(name)
            print(f"deleted '{name}'")

    def _cmd_stop(self, args: Any, cell: str | None) -> None:
        self.client.unload(args.model)
        print(f"unloaded '{args.model}'")

    def _cmd_embed(self, args: Any, cell: str | None) -> Any:
        import numpy as np

        result = self.client.embed(args.model, list(args.texts), dimensions=args.dimensions)
        vectors = np.asarray(result.embeddings, dtype=np.float32)
        return vectors[0] if len(args.texts) == 1 else vectors

    # ------------------------------------------------------------------- connection and settings

    def _cmd_status(self, args: Any, cell: str | None) -> None:
        print(f"mullama: {self.client.describe()}")

    def _cmd_connect(self, args: Any, cell: str | None) -> None:
        if args.url and args.embedded:
            raise UsageError("give a URL or --embedded, not both")
        old = (self.host, self.token, self._embedded, self._client)
        self.host = args.url or ""
        self.token = args.token or ""
        self._embedded = bool(args.embedded)
        self._client = None
        try:
            print(f"mullama: {self.client.describe()}")
        except BaseException:
            self.host, self.token, self._embedded, self._client = old  # a failed connect changes nothing
            raise

    def _cmd_config(self, args: Any, cell: str | None) -> None:
        for name in sorted(self.trait_names(config=True)):
            value = getattr(self, name)
            if name == "token" and value:
                value = "***"
            print(f"MullamaMagics.{name} = {value!r}")
        print(f"manager: {self.client.describe()}")
        if self.sessions.names():
            print(f"chat sessions: {', '.join(self.sessions.names())}")

    def _cmd_help(self, args: Any, cell: str | None) -> None:
        if args.command:
            parsers = commands.build()
            if args.command not in parsers:
                raise UsageError(f"unknown command {args.command!r} (%mullama help lists them)")
            parsers[args.command].print_help(sys.stdout)
            return
        print(usage())


def _quoted(message: str) -> str:
    """The name inside Ollama's "model 'x' not found" text."""
    if "'" in message:
        parts = message.split("'")
        if len(parts) >= 3:
            return parts[1]
    return ""

"""Generate the user docs in docs/ from the code.

    python docs/gen.py           rewrite the generated sections of docs/*.md
    python docs/gen.py --check   exit 1, naming the stale file, if any section differs from the code

Each document mixes hand-written prose with sections between ``<!-- BEGIN GENERATED: name -->`` and
``<!-- END GENERATED: name -->``. Only those sections are rewritten, so prose edited in the .md
files survives. The ``*_SEED`` texts below are what a document starts as when its file does not
exist yet; after that the .md file, not this script, holds the prose.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DOCS_DIR = Path(__file__).resolve().parent
ROOT = DOCS_DIR.parent
if str(ROOT) not in sys.path:
    # `python docs/gen.py` puts docs/ on the path, not the checkout whose code the docs describe.
    sys.path.insert(0, str(ROOT))

from mullama_jupyter import cli, magics  # noqa: E402
from mullama_jupyter.core import errors, options  # noqa: E402
from mullama_jupyter.server import extension, routes  # noqa: E402

HELP_WIDTH = 100
REGEN = "python docs/gen.py"
NOTE = (f"<!-- Sections between BEGIN/END GENERATED markers are written from the code by docs/gen.py: "
        f"change the code, then run `{REGEN}`. Text outside them is yours to edit. -->")


class DocError(Exception):
    """A document whose markers gen.py cannot work with."""


# ----------------------------------------------------------------------------- markdown helpers


def code(text: object) -> str:
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: object) -> str:
    # A table cell is one line, and a bare `|` would end it.
    return " ".join(str(text).split()).replace("|", "\\|")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fenced(text: str, lang: str = "text") -> str:
    return f"```{lang}\n{text.rstrip()}\n```"


def rst_to_md(text: str) -> str:
    """Docstrings use rst literals; markdown wants single backticks."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def docstring_paragraphs(obj: object) -> list[str]:
    doc = inspect.cleandoc(obj.__doc__ or "")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", doc) if p.strip()]


# ----------------------------------------------------------------------------- cli.md


class _StableFormatter(argparse.HelpFormatter):
    """The same help text on every machine: a fixed width instead of the terminal's."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None, **kwargs: object) -> None:
        super().__init__(prog, indent_increment, max_help_position, width=HELP_WIDTH, **kwargs)

    # Python 3.13 prints "-o, --option KEY=VALUE" where 3.10-3.12 print the metavar after each
    # option string; pin the form the project's tested Python (3.11) prints so --check agrees
    # across versions.
    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            (metavar,) = self._metavar_formatter(action, self._get_default_metavar_for_positional(action))(1)
            return metavar
        if action.nargs == 0:
            return ", ".join(action.option_strings)
        args = self._format_args(action, self._get_default_metavar_for_optional(action))
        return ", ".join(f"{option} {args}" for option in action.option_strings)


def _stable(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.formatter_class = _StableFormatter
    if hasattr(parser, "color"):
        parser.color = False  # Python 3.14 colours help when stdout is a terminal
    return parser


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    summary: str
    parser: argparse.ArgumentParser


def cli_commands(parser: argparse.ArgumentParser) -> list[Command]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for choice in sub._choices_actions:  # one per command, in definition order, carrying its help
        sp = sub.choices[choice.dest]
        aliases = tuple(n for n, p in sub.choices.items() if p is sp and n != choice.dest)
        out.append(Command(choice.dest, aliases, choice.help or "", _stable(sp)))
    return out


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


def cli_sections() -> dict[str, str]:
    parser = _stable(cli.build_parser())
    commands = cli_commands(parser)
    rows = []
    for c in commands:
        title = f"{cli.PROG} {c.name}"
        alias = f" (alias {', '.join(code(a) for a in c.aliases)})" if c.aliases else ""
        rows.append([f"[{code(title)}](#{_anchor(title)}){alias}", c.summary])
    helps = [f"## {cli.PROG}\n\n{fenced(parser.format_help())}"]
    helps += [f"## {cli.PROG} {c.name}\n\n{fenced(c.parser.format_help())}" for c in commands]
    return {
        "commands": table(["command", "what it does"], rows),
        "help": "\n\n".join(helps),
    }


CLI_SEED = f"""\
# Command line

{NOTE}

`mullama` is an Ollama-like command line: `run`, `pull`, `list`, `show`, `cp`, `rm`, `ps`, `stop` and
`serve` behave like their `ollama` namesakes, and `status` says which manager is in use. Every command works with no server running: it uses a server when one
answers (the URL in `MULLAMA_HOST`, `mullama serve` on 127.0.0.1:8080, or a Jupyter server with the
extension), and otherwise runs the models in its own process, on the same model store. Errors print one line,
with the next step, and exit non-zero. `mullama serve` puts the HTTP API described in
[http-api.md](http-api.md) on a port of its own; environment variables and model options are in
[configuration.md](configuration.md).

```bash
mullama run smollm2:135m "Why is the sky blue?"
mullama run smollm2:135m -o temperature=0 -o num_predict=64 < prompt.txt
mullama list
```

<!-- BEGIN GENERATED: commands -->
<!-- END GENERATED: commands -->

<!-- BEGIN GENERATED: help -->
<!-- END GENERATED: help -->
"""


# ----------------------------------------------------------------------------- configuration.md


def trait_type(trait: object) -> str:
    name = type(trait).__name__
    values = getattr(trait, "values", None)
    if values is not None:  # Enum
        return f"{name}: " + ", ".join(str(v) for v in values)
    inner = getattr(trait, "_trait", None)  # List, Set, Tuple of something
    if inner is not None:
        return f"{name} of {type(inner).__name__}"
    return name


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    head, sep, _ = text.partition(". ")
    return head + "." if sep else text


def trait_sections() -> dict[str, str]:
    cls = extension.MullamaExtension
    own = cls.class_own_traits(config=True)
    rows = [[code(f"{cls.__name__}.{name}"), trait_type(t), code(t.default_value_repr()), rst_to_md(t.help)]
            for name, t in sorted(own.items())]
    inherited = [[code(name), trait_type(t), code(t.default_value_repr()), code(t.this_class.__name__),
                  rst_to_md(_first_sentence(t.help)) or "—"]
                 for name, t in sorted(cls.class_traits(config=True).items()) if name not in own]
    return {
        "extension-traits": table(["setting", "type", "default", "what it does"], rows),
        "inherited-traits": (
            f"`{cls.__name__}` also inherits these settings from Jupyter's application classes; mullama-jupyter "
            f"itself does not read them. They are listed for completeness and set the same way.\n\n"
            + table(["setting", "type", "default", "defined by", "what it does"], inherited)
        ),
    }


def _bound(x: float | None) -> str:
    """Bounds like 1 << 22 read better as powers of two than as 7-20 digit numbers."""
    if x is None:
        return ""
    if isinstance(x, float) and not x.is_integer():
        return str(x)
    n = int(x)
    sign = "-" if n < 0 else ""
    if abs(n) < 1 << 16:
        return str(n)
    if _is_power_of_two(abs(n)):
        return f"{sign}2^{abs(n).bit_length() - 1}"
    if _is_power_of_two(abs(n) + 1):
        return f"{sign}2^{abs(n).bit_length()}-1"
    return str(n)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def option_range(spec: options.Spec) -> str:
    if spec.lo is None and spec.hi is None:
        return "—"
    return f"{_bound(spec.lo)} … {_bound(spec.hi)}"


def option_default(name: str) -> str:
    if name not in options.DEFAULTS:
        return "—"
    value = options.DEFAULTS[name]
    if isinstance(value, bool):
        return code(str(value).lower())  # as JSON, the form requests use
    return code(repr(value) if isinstance(value, str) else value)


def option_sections() -> dict[str, str]:
    unknown = sorted(set(options.DEFAULTS) - set(options.SPECS))
    if unknown:
        raise DocError(f"mullama_jupyter/core/options.py: DEFAULTS has keys that SPECS lacks: {unknown}")
    # The type names are Ollama's, the ones a 400 for a wrong type quotes back.
    rows = [[code(name), spec.kind, option_range(spec), option_default(name), "yes" if spec.load else "",
             spec.help or "—"]
            for name, spec in options.SPECS.items()]
    rules = "\n\n".join(rst_to_md(p) for p in docstring_paragraphs(options)[1:])
    retired = ", ".join(code(k) for k in sorted(options.RETIRED))
    return {
        "option-rules": rules,
        "model-options": table(["option", "type", "range", "default", "load-time", "what it does"], rows),
        "retired-options": f"Accepted and ignored without a warning, because Ollama's clients may still send them: "
                           f"{retired}.",
    }


def configuration_sections() -> dict[str, str]:
    return {**trait_sections(), **option_sections()}


CONFIGURATION_SEED = f"""\
# Configuration

{NOTE}

Four places configure mullama-jupyter: the Jupyter server extension's settings (below), the flags of
`mullama serve` (see [cli.md](cli.md#mullama-serve)), a few environment variables, and the model options that
Modelfiles and requests carry.

## Jupyter server extension

The extension is the `MullamaExtension` class; its settings go on the `jupyter server` command line or in a
Jupyter config file, like any Jupyter setting.

```bash
jupyter server --MullamaExtension.keep_alive=30m --MullamaExtension.max_loaded_models=1
```

```python
# jupyter_server_config.py, in a directory listed by `jupyter --paths` (e.g. ~/.jupyter/)
c.MullamaExtension.num_ctx = 8192
c.MullamaExtension.keep_alive = "-1m"         # negative: keep models loaded until the server stops
c.MullamaExtension.models_dir = "/data/mullama/models"
```

```json
{{"MullamaExtension": {{"keep_alive": "30m", "max_loaded_models": 1}}}}
```

(the last one as `jupyter_server_config.json`). Durations need a unit (`30s`, `-1m`; `0` alone is fine).
Jupyter does not stop on a setting it refuses: it logs a warning such as
`mullama_jupyter | error linking extension: keep_alive: time: missing unit in duration "30"`, and the
extension then runs with all its defaults, so check the server log after changing these settings.

<!-- BEGIN GENERATED: extension-traits -->
<!-- END GENERATED: extension-traits -->

### Inherited settings

<!-- BEGIN GENERATED: inherited-traits -->
<!-- END GENERATED: inherited-traits -->

## Environment variables

| variable | read by | meaning |
|---|---|---|
| `MULLAMA_CACHE_DIR` | every process that opens the model store | Root of the model store, used when `models_dir` / `--models-dir` is not set. Default: `$XDG_CACHE_HOME/mullama/models`, else `~/.cache/mullama/models`. |
| `MULLAMA_HOST` | the CLI, the magics, `mullama_jupyter.client.Client` | URL of the server to use, e.g. `http://127.0.0.1:8080` or `http://localhost:8888/mullama` (`http://` is added when the scheme is missing). The Jupyter extension sets it, base_url included, for the kernels it starts. When it does not answer, the client tries `mullama serve` on 127.0.0.1:8080, then running Jupyter servers, then runs the models itself. |
| `MULLAMA_TOKEN` | the same | Sent as `Authorization: Bearer <token>` to that server: a Jupyter token, or the API key of `mullama serve --api-key`. The extension sets it to its Jupyter token (when the server has one). |
| `MULLAMA_API_KEY` | `mullama serve` | The API key to require when `--api-key` is not given. |

The extension exports `MULLAMA_HOST` and `MULLAMA_TOKEN` into the Jupyter server's own environment when it
starts, so kernels started from then on inherit them; `export_env = False` turns that off.

## Model options

Options tune loading and sampling. A request carries them in `options` (`{{"options": {{"temperature": 0}}}}`),
a Modelfile as `PARAMETER temperature 0`, the CLI as `mullama run MODEL -o temperature=0`, a cell as
`%%mullama run MODEL -o temperature=0`.

<!-- BEGIN GENERATED: option-rules -->
<!-- END GENERATED: option-rules -->

A *load-time* option decides how the model is loaded: a request that changes one reloads the model in a new
runner process (a new llama context); the others apply per request. "—" as a default means mullama sets no
value of its own. Ranges are inclusive.

<!-- BEGIN GENERATED: model-options -->
<!-- END GENERATED: model-options -->

<!-- BEGIN GENERATED: retired-options -->
<!-- END GENERATED: retired-options -->
"""


# ----------------------------------------------------------------------------- http-api.md

METHODS = ("get", "head", "post", "delete")


def route_methods(route: type) -> list[str]:
    return [m.upper() for m in METHODS if callable(getattr(route, f"handle_{m}", None))]


def path_template(pattern: str) -> str:
    """``/api/blobs/(?P<digest>[^/]+)`` reads as ``/api/blobs/{digest}``; unnamed groups become ``{argN}``."""
    out, i, n = [], 0, 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        if pattern[i] != "(":
            out.append(pattern[i])
            i += 1
            continue
        depth, j = 0, i
        while j < len(pattern):
            depth += {"(": 1, ")": -1}.get(pattern[j], 0)
            if pattern[j] == "\\":
                j += 1
            elif depth == 0:
                break
            j += 1
        group = pattern[i:j + 1]
        named = re.match(r"\(\?P<(\w+)>", group)
        n += 1
        out.append("{" + (named.group(1) if named else f"arg{n}") + "}")
        i = j + 1
    return "".join(out).rstrip("$")


def route_table(base: str) -> str:
    rows = []
    for pattern, route in routes.ROUTES:
        family = route.__module__.rsplit(".", 1)[-1]
        rows.append([" ".join(code(m) for m in route_methods(route)),
                     code(base.rstrip("/") + path_template(pattern)), code(f"{family}.{route.__name__}")])
    return table(["methods", "path", "handler"], rows)


def serve_defaults() -> tuple[str, int]:
    serve = {c.name: c.parser for c in cli_commands(cli.build_parser())}["serve"]
    return serve.get_default("host"), serve.get_default("port")


def http_sections() -> dict[str, str]:
    host, port = serve_defaults()
    jupyter_base = "{base_url}" + extension.PREFIX + "/"
    return {
        "routes-jupyter": (
            f"Every path below starts with `{jupyter_base}`: the Jupyter server's base URL (`/` unless "
            f"`ServerApp.base_url` says otherwise), then `{extension.PREFIX}/`. With the defaults, "
            f"`http://localhost:8888/{extension.PREFIX}/api/tags`.\n\n" + route_table(jupyter_base)
        ),
        "routes-standalone": (
            f"`mullama serve` mounts the same table at `/`, on http://{host}:{port} unless `--host` and "
            f"`--port` say otherwise.\n\n" + route_table(f"http://{host}:{port}/")
        ),
        "error-statuses": error_status_table(),
    }


def error_status_table() -> str:
    """Statuses from the error classes; what each means from the hierarchy drawn in core/errors.py."""
    meaning = {}
    for line in (errors.__doc__ or "").splitlines():
        m = re.search(r"(\w+)[ .]+\d{3}\s+(.*)$", line)
        if m:
            meaning[m.group(1)] = m.group(2).strip()
    rows = []

    def walk(cls: type[errors.MullamaError], parent: str) -> None:
        # Depth first, like the drawing, so "it died while working" follows the error it refines.
        text = meaning.get(cls.__name__, "")
        if text and not text.startswith("(client side)"):  # the server never sends client-side errors
            name = code(cls.__name__) + (f" (under {code(parent)})" if parent else "")
            rows.append((cls.status, name, text))
        for sub in cls.__subclasses__():
            walk(sub, cls.__name__ if text else "")

    walk(errors.MullamaError, "")
    rows.sort(key=lambda r: r[0])  # stable: tree order within a status
    return table(["status", "error", "when"], [[str(s), n, t] for s, n, t in rows])


HTTP_SEED = f"""\
# HTTP API

{NOTE}

mullama-jupyter speaks Ollama's HTTP API, so Ollama's own clients (the `ollama` Python package, `curl`
scripts written for Ollama, tools that take an Ollama URL) work against it. One route table serves two places:
the Jupyter server, behind Jupyter's auth, and `mullama serve`, a server of its own.

## Routes

Methods are the ones the handler implements; any other method gets 405 `{{"error": "method not allowed"}}`.

### Under Jupyter

<!-- BEGIN GENERATED: routes-jupyter -->
<!-- END GENERATED: routes-jupyter -->

### Standalone (`mullama serve`)

<!-- BEGIN GENERATED: routes-standalone -->
<!-- END GENERATED: routes-standalone -->

## Connecting clients

### Ollama's Python client, to Jupyter

```python
import ollama

client = ollama.Client(
    host="http://localhost:8888/mullama",  # the server's URL, its base_url, then mullama
    headers={{"Authorization": "token <jupyter token>"}},
)
client.pull("smollm2:135m")
reply = client.chat(model="smollm2:135m", messages=[{{"role": "user", "content": "Why is the sky blue?"}}])
print(reply["message"]["content"])
```

The token is the one in the URL Jupyter prints at start-up (`?token=…`; `jupyter server list` shows it
again); `Authorization: Bearer <token>` works too. Inside a kernel that server started, the extension has
already put both halves in the environment:

```python
import os
import ollama

client = ollama.Client(host=os.environ["MULLAMA_HOST"],
                       headers={{"Authorization": f"token {{os.environ['MULLAMA_TOKEN']}}"}})
```

### Ollama's Python client, to `mullama serve`

```bash
mullama serve          # Ollama-compatible API on http://127.0.0.1:8080
```

```python
import ollama

client = ollama.Client(host="http://127.0.0.1:8080")
for part in client.generate(model="smollm2:135m", prompt="Why is the sky blue?", stream=True):
    print(part["response"], end="", flush=True)
```

`mullama serve` listens on 8080, not Ollama's 11434, so pass `host=` (or set `OLLAMA_HOST=127.0.0.1:8080`,
which the `ollama` package reads). With an API key, send it as a Bearer token:

```python
client = ollama.Client(host="http://gpu-box:8080", headers={{"Authorization": "Bearer <api key>"}})
```

### curl

Generate, streaming (the default): one JSON object per line, the last one with `"done": true` and the
metrics.

```bash
curl http://127.0.0.1:8080/api/generate -d '{{
  "model": "smollm2:135m",
  "prompt": "Why is the sky blue?",
  "options": {{"temperature": 0, "num_predict": 5}}
}}'
```

```text
{{"model":"smollm2:135m","created_at":"2026-11-22T03:57:34.430208122Z","response":"The","done":false}}
{{"model":"smollm2:135m","created_at":"2026-11-22T03:57:34.447133887Z","response":" answer","done":false}}
…
{{"model":"smollm2:135m","created_at":"…","response":"","done":true,"done_reason":"length","context":[1,9690,…],"total_duration":1095842324,"load_duration":609772223,"prompt_eval_count":36,"prompt_eval_duration":348601880,"eval_count":5,"eval_duration":76106353}}
```

Chat, with `"stream": false` for one JSON object:

```bash
curl http://127.0.0.1:8080/api/chat -d '{{
  "model": "smollm2:135m",
  "messages": [{{"role": "user", "content": "Say hello."}}],
  "stream": false,
  "options": {{"temperature": 0, "num_predict": 8}}
}}'
```

```text
{{"model":"smollm2:135m","created_at":"…","message":{{"role":"assistant","content":"Hello there, welcome to my world!"}},"done":true,"done_reason":"length","total_duration":229890891,"load_duration":0,"prompt_eval_count":33,"prompt_eval_duration":101515599,"eval_count":8,"eval_duration":125605971}}
```

Embed, one vector per input:

```bash
curl http://127.0.0.1:8080/api/embed -d '{{"model": "smollm2:135m", "input": ["first text", "second text"]}}'
```

```text
{{"model":"smollm2:135m","embeddings":[[-0.0099487,-0.0121211,…],[…]],"total_duration":67163545,"load_duration":0,"prompt_eval_count":4}}
```

Under Jupyter the same requests go to `http://localhost:8888/mullama/api/...` with
`-H "Authorization: token $JUPYTER_TOKEN"`; to a `mullama serve --api-key`, with
`-H "Authorization: Bearer $MULLAMA_API_KEY"` (or `-H "x-api-key: $MULLAMA_API_KEY"`).

## Errors

Every error is a JSON object with one key, as Ollama sends it:

```json
{{"error": "option \\"temperature\\" is out of range: -1.0 (allowed 0..10000)"}}
```

Until the first byte of an answer is written, the error comes with a real HTTP status:

<!-- BEGIN GENERATED: error-statuses -->
<!-- END GENERATED: error-statuses -->

A stream that fails after it has started cannot change its status (200 is already sent): its last line is
`{{"error": "..."}}` instead of a `"done": true` object. Read every line for an `error` key; the `ollama`
package does, and raises `ollama.ResponseError`. A client that closes the connection stops the generation.

Besides these: 403 `{{"error": "forbidden"}}` from Jupyter's auth, 401 `{{"error": "unauthorized"}}` for a
missing or wrong API key, 403 for a refused Host or Origin (see below), and `{{"error": "404 page not found"}}`
for an unknown path on `mullama serve`.

## Security

Under Jupyter:

- Every route and every method goes through Jupyter's auth: the token (`Authorization: token …` or
  `Bearer …`), or the login cookie plus the XSRF token for a browser's POSTs. Without it the answer is 403.
  Custom Jupyter authorizers see the resource `mullama`.
- The routes live under `{{base_url}}mullama/`, never under Jupyter's own `{{base_url}}api/`.

Standalone (`mullama serve`):

- It binds `127.0.0.1` unless `--host` says otherwise.
- **Host check**: on a loopback bind, a request whose `Host` header does not name this machine (`localhost`,
  `*.localhost`, `*.local`, `*.internal`, the machine's hostname, a loopback, private or link-local address)
  gets 403 `forbidden: unknown host`. That stops DNS-rebinding pages from reaching the API through a
  browser.
- **Origin check**: a browser request whose `Origin` is not local (`http(s)://localhost`, `127.0.0.1`,
  `[::1]`, `0.0.0.0`, or an `app:`, `file:`, `tauri:`, `vscode-webview:` or `vscode-file:` origin) gets 403
  `forbidden: origin not allowed`. `--origin URL` (repeatable) allows more. Allowed origins get CORS headers,
  and `OPTIONS` preflights are answered.
- **API key**: with `--api-key KEY` (or `MULLAMA_API_KEY`) every request must carry
  `Authorization: Bearer KEY` or `x-api-key: KEY`, else 401.
- **No public bind without a key**: `mullama serve --host 0.0.0.0` without a key refuses to start
  (`Error: refusing to listen on 0.0.0.0 without an API key`). On a non-loopback bind the Host check is
  off and the key is what guards the API. There is no TLS: put a reverse proxy in front for remote use.
"""


# ----------------------------------------------------------------------------- magics.md


def magics_sections() -> dict[str, str]:
    from mullama_jupyter.magics import commands

    parsers = commands.build()
    helps = []
    for name, _, _ in commands.COMMANDS:
        parser = _stable(parsers[name])
        helps.append(f"### {name}\n\n" + fenced(parser.format_help().rstrip()))
    cls = magics.MullamaMagics
    own = cls.class_own_traits(config=True)
    settings = table(["setting", "type", "default", "what it does"],
                     [[code(f"{cls.__name__}.{name}"), trait_type(t), code(t.default_value_repr()), rst_to_md(t.help)]
                      for name, t in sorted(own.items())])
    return {"usage": fenced(magics.usage()), "commands": "\n\n".join(helps), "settings": settings}


MAGICS_SEED = f"""\
# IPython magics

{NOTE}

Load them in a notebook or IPython session:

```python
%load_ext mullama_jupyter
```

`%mullama help` prints:

<!-- BEGIN GENERATED: usage -->
<!-- END GENERATED: usage -->

## Examples

```python
%mullama pull smollm2:135m
%mullama list
```

```python
%%mullama run smollm2:135m --system "Answer in one sentence." -o temperature=0 -o num_predict=64
Why is the sky blue?
```

The answer streams into the cell's output; interrupting the cell stops the generation. Options take
`key=value`; the value is read as JSON when it parses (`-o num_predict=64`, `-o stop='["\\n"]'`) and as a
string otherwise. The [model options](configuration.md#model-options) list them all.

```python
%mullama show smollm2:135m --modelfile
%mullama cp smollm2:135m mine:latest
%mullama rm mine:latest
%mullama ps
%mullama stop smollm2:135m
```

## Which manager a kernel uses

In a kernel started by a Jupyter server with the extension, the magics talk to that server's manager: the
extension put its URL and token in `MULLAMA_HOST` and `MULLAMA_TOKEN`. Without them, they use `mullama serve`
on 127.0.0.1:8080 or a running Jupyter server when one answers, and otherwise run the models inside the
kernel. `%mullama status` says which.

Errors print one line that says what to do next (for example, to pull a missing model), with no traceback.
"""


# ----------------------------------------------------------------------------- monitoring.md


def monitoring_sections() -> dict[str, str]:
    from mullama_jupyter.core.metrics import ManagerMetrics

    rows = [[code(r["name"]), r["type"], ", ".join(code(label) for label in r["labels"]) or "–", r["help"]]
            for r in ManagerMetrics().describe()]
    return {"metrics": table(["metric", "type", "labels", "meaning"], rows)}


def jupyterlab_sections() -> dict[str, str]:
    import json

    schema = json.loads((ROOT / "labextension" / "schema" / "plugin.json").read_text(encoding="utf-8"))
    rows = [[code(name), spec["type"], code(json.dumps(spec["default"])), spec["description"]]
            for name, spec in schema["properties"].items()]
    keys = [[code(s["command"]), " / ".join(code(k) for k in s["keys"])] for s in schema["jupyter.lab.shortcuts"]]
    return {"settings": table(["setting", "type", "default", "meaning"], rows),
            "shortcuts": table(["command", "keys"], keys)}


# ----------------------------------------------------------------------------- splicing and files


@dataclass(frozen=True)
class Doc:
    name: str
    seed: str
    sections: Callable[[], dict[str, str]]

    @property
    def path(self) -> Path:
        return DOCS_DIR / self.name


DOCS = [
    Doc("cli.md", CLI_SEED, cli_sections),
    Doc("configuration.md", CONFIGURATION_SEED, configuration_sections),
    Doc("http-api.md", HTTP_SEED, http_sections),
    Doc("magics.md", MAGICS_SEED, magics_sections),
    Doc("monitoring.md", "", monitoring_sections),
    Doc("jupyterlab.md", "", jupyterlab_sections),
]

BEGIN = re.compile(r"<!-- BEGIN GENERATED: ([\w-]+) -->")
SECTION = re.compile(r"(<!-- BEGIN GENERATED: ([\w-]+) -->\n)(.*?)(<!-- END GENERATED: \2 -->)", re.DOTALL)


def splice(text: str, sections: dict[str, str], where: str) -> str:
    """``text`` with every generated section replaced; the prose around them untouched."""
    found = [m.group(2) for m in SECTION.finditer(text)]
    begun = BEGIN.findall(text)
    if found != begun:
        raise DocError(f"{where}: unbalanced markers (BEGIN {begun}, complete sections {found})")
    problems = []
    if missing := [s for s in sections if s not in found]:
        problems.append(f"missing sections {missing} (add '<!-- BEGIN GENERATED: {missing[0]} -->' and its END)")
    if extra := sorted({s for s in found if s not in sections}):
        problems.append(f"sections {extra} are no longer generated (remove their markers)")
    if dup := sorted({s for s in found if found.count(s) > 1}):
        problems.append(f"sections {dup} appear more than once")
    if problems:
        raise DocError(f"{where}: " + "; ".join(problems))
    return SECTION.sub(lambda m: m.group(1) + sections[m.group(2)].strip("\n") + "\n" + m.group(4), text)


def render(doc: Doc) -> tuple[str | None, str]:
    """(what the file holds now, or None; what it should hold)."""
    current = doc.path.read_text(encoding="utf-8") if doc.path.exists() else None
    where = f"docs/{doc.name}"
    return current, splice(doc.seed if current is None else current, doc.sections(), where)


def check() -> list[str]:
    """One message per stale or broken document; empty when the docs match the code."""
    problems = []
    for doc in DOCS:
        try:
            current, wanted = render(doc)
        except DocError as e:
            problems.append(str(e))
            continue
        if current is None:
            problems.append(f"docs/{doc.name} is missing; run: {REGEN}")
        elif current != wanted:
            problems.append(f"docs/{doc.name} is stale (its generated sections differ from the code); run: {REGEN}")
    return problems


def write() -> list[str]:
    written = []
    for doc in DOCS:
        current, wanted = render(doc)
        if current != wanted:
            with open(doc.path, "w", encoding="utf-8", newline="\n") as f:
                f.write(wanted)
            written.append(f"docs/{doc.name}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/gen.py", description="Generate docs/*.md from the code.")
    parser.add_argument("--check", action="store_true", help="exit 1 if any generated section is out of date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check()
            for p in problems:
                print(p, file=sys.stderr)
            return 1 if problems else 0
        for name in write():
            print(f"wrote {name}")
    except DocError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

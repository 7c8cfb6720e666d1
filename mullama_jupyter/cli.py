"""``mullama``: an Ollama-like command line.

Every command works with no server running: it uses a server when one answers (``MULLAMA_HOST``,
``mullama serve`` on 127.0.0.1:8080, or a Jupyter server with the extension), else a manager
embedded in this process, on the same model store. Errors print one line (and the next step) and
exit non-zero; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from . import __version__, display
from .core.durations import keep_alive_flag
from .core.errors import ModelNotFound, MullamaError
from .core.native import Message

PROG = "mullama"
SPEC_HELP = """\
Model specs:
  llama3.2:1b                      an alias (see: mullama aliases)
  llama3.2:1b-q8                   the alias with another quantization (q4, q5, q8, f16, q4_k_m, ...)
  hf:owner/repo                    a Hugging Face GGUF repository; the quant is chosen in the order
                                   Q4_K_M, Q4_K_S, Q5_K_M, Q4_0, Q8_0, F16
  hf:owner/repo:Q8_0               that quantization
  hf:owner/repo:file.gguf          that file
  ...@revision                     any of the above at a branch, tag or commit
  ./model.gguf                     a local file

Downloads resume where they stopped, are checked against the hub's sha256, and honour HF_TOKEN,
HF_ENDPOINT and HF_HUB_OFFLINE."""


def _client(args: argparse.Namespace) -> Any:
    from .client import Client

    return Client(host=getattr(args, "server", None), embedded=getattr(args, "embedded", False))


def cmd_pull(args: argparse.Namespace) -> int:
    client = _client(args)
    show = display.ProgressPrinter()
    for p in client.pull(args.model, digest=args.digest):
        show(p)
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    candidates = [Path(args.file)] if args.file else [Path("Modelfile"), Path("Mullamafile")]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise MullamaError(f"no Modelfile at {candidates[0]}", hint="write one, or pass -f PATH")
    show = display.ProgressPrinter()
    # Bytes: the parser decodes UTF-8, or UTF-16 when a byte-order mark says so, as Ollama does.
    for p in _client(args).create(args.model, path.read_bytes(), base_dir=path.parent):
        show(p)
    return 0


def cmd_aliases(args: argparse.Namespace) -> int:
    print(display.aliases_table(_client(args).aliases()))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    print(display.models_table(_client(args).list()))
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    print(display.ps_table(_client(args).ps()))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    info = _client(args).show(args.model, verbose=args.verbose)
    for flag in ("modelfile", "template", "system", "license", "parameters"):
        if getattr(args, flag):
            text = info.get(flag, "")
            print(text, end="" if text.endswith("\n") else "\n")
            return 0
    print(display.show_text(info))
    return 0


def cmd_cp(args: argparse.Namespace) -> int:
    _client(args).copy(args.source, args.destination)
    print(f"copied '{args.source}' to '{args.destination}'")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    client = _client(args)
    for name in args.models:
        client.delete(name)
        print(f"deleted '{name}'")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    _client(args).unload(args.model)
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    texts = list(args.text) or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    result = _client(args).embed(args.model, texts, dimensions=args.dimensions)
    for vector in result.embeddings:
        print(json.dumps(vector))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    print(_client(args).describe())
    return 0


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise MullamaError(f"option {pair!r} must look like key=value", hint="e.g. -o temperature=0.2")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _stream(response: Any, verbose: bool) -> str:
    text = []
    for chunk in response:
        if chunk.content:
            sys.stdout.write(chunk.content)
            sys.stdout.flush()
            text.append(chunk.content)
    sys.stdout.write("\n")
    if verbose and response.metrics:
        print(display.metrics_text(response.metrics), file=sys.stderr)
    return "".join(text)


def cmd_run(args: argparse.Namespace) -> int:
    client = _client(args)
    options = _options(args.option)
    args.keepalive = keep_alive_flag(args.keepalive)
    prompt = " ".join(args.prompt)
    interactive = not prompt and sys.stdin.isatty()
    if not prompt and not interactive:
        prompt = sys.stdin.read()

    def chat(messages: list[Message]) -> str:
        try:
            response = client.chat(args.model, messages, options=options or None, keep_alive=args.keepalive,
                                   format=args.format)
            return _stream(response, args.verbose)
        except ModelNotFound:
            # Like `ollama run`: pull what is missing, then answer.
            show = display.ProgressPrinter()
            for p in client.pull(args.model):
                show(p)
            return _stream(client.chat(args.model, messages, options=options or None, keep_alive=args.keepalive,
                                       format=args.format), args.verbose)

    system = [Message("system", args.system)] if args.system else []
    if not interactive:
        chat([*system, Message("user", prompt)])
        return 0
    history = list(system)
    print('Send a message (/bye to quit, /clear to forget the conversation)', file=sys.stderr)
    while True:
        try:
            line = input(">>> ")
        except EOFError:
            print()
            return 0
        if line.strip() in ("/bye", "/exit"):
            return 0
        if line.strip() == "/clear":
            history = list(system)
            continue
        if not line.strip():
            continue
        history.append(Message("user", line))
        history.append(Message("assistant", chat(history)))


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from .core.durations import parse_keep_alive_setting
    from .core.manager import Manager, ManagerConfig
    from .core.store import Store
    from .server.app import serve

    logging.basicConfig(level=logging.INFO if not args.quiet else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ManagerConfig(keep_alive=parse_keep_alive_setting(args.keep_alive), max_loaded=args.max_loaded,
                           max_queue=args.max_queue, num_ctx=args.num_ctx, num_thread=args.threads,
                           engine=args.engine, stream_interval=args.stream_interval, auto_pull=args.auto_pull)
    ollama = False if (args.ollama_models or "").lower() == "none" else args.ollama_models
    manager = Manager(Store(args.models_dir, ollama=ollama), config)
    api_key = args.api_key or os.environ.get("MULLAMA_API_KEY") or None

    def ready(server: Any) -> None:
        print(f"mullama {__version__}: Ollama-compatible API on http://{args.host}:{args.port} "
              f"(models in {manager.store.root})", file=sys.stderr, flush=True)

    asyncio.run(serve(manager, args.host, args.port, api_key=api_key, allowed_origins=tuple(args.origin),
                      ready=ready))
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Ollama-style local LLMs: run, pull and manage GGUF models (llama.cpp in child processes).",
        epilog="Uses a server when one answers (MULLAMA_HOST, mullama serve, or Jupyter with the extension); "
               "otherwise runs the models in this process. Models live in $MULLAMA_CACHE_DIR "
               "(default $XDG_CACHE_HOME/mullama/models, i.e. ~/.cache/mullama/models).",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--server", metavar="URL",
                   help="use the server at URL, e.g. http://127.0.0.1:8080 or http://localhost:8888/mullama "
                        "(default: $MULLAMA_HOST, then discovery); its token comes from $MULLAMA_TOKEN")
    p.add_argument("--embedded", action="store_true", help="never use a server; run models in this process")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run a model: answer PROMPT (or stdin), or chat interactively")
    r.add_argument("model", help="model name, e.g. smollm2:135m (pulled first if missing)")
    r.add_argument("prompt", nargs="*", help="the prompt; read from stdin when absent and stdin is not a terminal")
    r.add_argument("--system", help="system prompt")
    r.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, e.g. -o temperature=0 -o num_predict=64 (repeatable)")
    r.add_argument("--format", help='"json" for JSON output')
    r.add_argument("--keepalive", metavar="DURATION",
                   help='how long the model stays loaded afterwards: "5m", "1h", seconds, "0" or "-1" (forever)')
    r.add_argument("--verbose", action="store_true", help="print timings and token rates")
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("pull", help="pull a model into the store", description=SPEC_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("model", help="an alias (llama3.2:1b, llama3.2:1b-q8), hf:owner/repo[:QUANT|:file.gguf][@rev], "
                                 "or a path to a .gguf file")
    s.add_argument("--digest", metavar="sha256:HEX", help="pin the model file's sha256; a mismatch fails the pull")
    s.set_defaults(fn=cmd_pull)

    s = sub.add_parser("create", help="create a model from a Modelfile (Ollama's format plus Mullama's directives)")
    s.add_argument("model", help="name of the new model")
    s.add_argument("-f", "--file", help="the Modelfile (default ./Modelfile, else ./Mullamafile)")
    s.set_defaults(fn=cmd_create)

    s = sub.add_parser("aliases", help="list the known model names and where they come from")
    s.set_defaults(fn=cmd_aliases)

    s = sub.add_parser("list", aliases=["ls"], help="list the models in the store")
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("show", help="show a model's details")
    s.add_argument("model", help="model name")
    s.add_argument("--modelfile", action="store_true", help="print its Modelfile")
    s.add_argument("--parameters", action="store_true", help="print its parameters")
    s.add_argument("--template", action="store_true", help="print its chat template")
    s.add_argument("--system", action="store_true", help="print its system prompt")
    s.add_argument("--license", action="store_true", help="print its license")
    s.add_argument("-v", "--verbose", action="store_true", help="include large metadata arrays")
    s.set_defaults(fn=cmd_show)

    s = sub.add_parser("cp", help="copy a model under a new name")
    s.add_argument("source", help="existing model")
    s.add_argument("destination", help="new name")
    s.set_defaults(fn=cmd_cp)

    s = sub.add_parser("rm", help="remove models (and the files no other model uses)")
    s.add_argument("models", nargs="+", metavar="model", help="model name(s)")
    s.set_defaults(fn=cmd_rm)

    s = sub.add_parser("ps", help="list loaded models")
    s.set_defaults(fn=cmd_ps)

    s = sub.add_parser("stop", help="unload a model now")
    s.add_argument("model", help="model name")
    s.set_defaults(fn=cmd_stop)

    s = sub.add_parser("embed", help="print embeddings, one JSON array per text (L2-normalised)")
    s.add_argument("model", help="model name")
    s.add_argument("text", nargs="*", help="texts to embed; read one per line from stdin when absent")
    s.add_argument("--dimensions", type=int, help="keep the first N dimensions (re-normalised)")
    s.set_defaults(fn=cmd_embed)

    s = sub.add_parser("status", help="say which manager is in use (server URL or embedded store)")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("serve", help="serve the Ollama-compatible API")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    s.add_argument("--api-key", help="require this key (Bearer or x-api-key); needed for a non-loopback --host")
    s.add_argument("--origin", action="append", default=[], help="extra allowed browser origin (repeatable)")
    s.add_argument("--models-dir", help="model store (default $MULLAMA_CACHE_DIR, else ~/.cache/mullama/models)")
    s.add_argument("--keep-alive", default="5m", metavar="DURATION",
                   help='default keep_alive: "5m", "1h", seconds, "0" or "-1" (forever) (default 5m)')
    s.add_argument("--max-loaded", type=int, default=3, help="most models loaded at once (default 3)")
    s.add_argument("--max-queue", type=int, default=512, help="requests waiting per model before 503 (default 512)")
    s.add_argument("--num-ctx", type=int, default=4096, help="default context window (default 4096)")
    s.add_argument("--threads", type=int, default=0, help="threads per model (default: physical cores)")
    s.add_argument("--stream-interval", type=float, default=0.025, metavar="SECONDS",
                   help="gather the tokens of this many seconds into one streamed chunk; 0 sends each alone "
                        "(default 0.025)")
    s.add_argument("--auto-pull", action="store_true",
                   help="pull a known model a request names but the store lacks, instead of answering 404")
    s.add_argument("--ollama-models", metavar="DIR",
                   help="Ollama store to read models from in place ('none' to ignore; default $OLLAMA_MODELS, "
                        "else ~/.ollama/models if present)")
    s.add_argument("--engine", default="llama", choices=["llama", "echo"], help=argparse.SUPPRESS)
    s.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    s.set_defaults(fn=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 0
    try:
        return int(args.fn(args) or 0)
    except MullamaError as e:
        print(f"Error: {e.describe()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())


"""Streaming speed of mullama-jupyter against llama-cpp-python, side by side.

Same model file, thread count, context size, prompt and greedy sampling on every side:

  direct      llama_cpp.Llama.create_chat_completion(stream=True) in this process
  manager     our Manager in this process (runner child + pipe), read on an asyncio loop
  http        `mullama serve` in a subprocess, POST /api/chat read as NDJSON
  openai      the same `mullama serve`, POST /v1/chat/completions read as SSE (our OpenAI translator)
  llama.srv   llama-cpp-python's own OpenAI server, POST /v1/chat/completions read as SSE

Run from the repo root on an idle machine:  python benchmarks/bench_stream.py --tokens 256 --runs 5
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

SEED = 42
TARGET = 0.97  # HTTP decode tok/s must be at least this fraction of direct's


@dataclass
class Sample:
    ttft: float  # seconds, request start -> first content chunk
    decode: float  # seconds, first -> last content chunk
    elapsed: float  # seconds, request start -> end of stream
    text: str
    chunks: int
    tokens: int = 0  # filled in outside the timed region, by re-tokenizing `text`
    runner_rate: float | None = None  # tok/s our runner reports (eval_count / eval_duration)

    @property
    def decode_rate(self) -> float:
        return (self.tokens - 1) / self.decode if self.tokens > 1 and self.decode > 0 else math.nan

    @property
    def total_rate(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else math.nan


class Clock:
    """Stamps the chunks of one streamed request with the caller's clock."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first = self.last = 0.0
        self.parts: list[str] = []

    def content(self, text: str | None) -> None:
        if not text:  # role-only and final chunks carry no token
            return
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        self.parts.append(text)

    def done(self, runner_rate: float | None = None) -> Sample:
        end = time.perf_counter()
        first = self.first or end
        return Sample(first - self.t0, (self.last or end) - first, end - self.t0, "".join(self.parts),
                      len(self.parts), runner_rate=runner_rate)


# ----------------------------------------------------------------------------- sides


class Direct:
    name = "llama-cpp-python direct"

    def __init__(self, model_path: str, args: argparse.Namespace) -> None:
        import llama_cpp

        self.args = args
        self.llm = llama_cpp.Llama(model_path, n_ctx=4096, n_threads=args.threads, n_threads_batch=args.threads,
                                   verbose=False)

    def run(self) -> Sample:
        clock = Clock()
        stream = self.llm.create_chat_completion(
            [{"role": "user", "content": self.args.prompt}], stream=True, temperature=0,
            max_tokens=self.args.tokens, seed=SEED, repeat_penalty=1.0)
        for chunk in stream:
            clock.content(chunk["choices"][0]["delta"].get("content"))
        return clock.done()

    def count(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False))

    def close(self) -> None:
        self.llm.close()


class InProcess:
    name = "mullama manager (in-process)"

    def __init__(self, store: object, model: str, args: argparse.Namespace) -> None:
        from mullama_jupyter.core.manager import Manager, ManagerConfig

        self.args, self.model = args, model
        self.loop = asyncio.new_event_loop()
        # keep_alive forever: the runner must not unload while the other sides take their turn.
        self.manager = Manager(store, ManagerConfig(num_thread=args.threads, num_ctx=4096, keep_alive=math.inf))
        self.loop.run_until_complete(self.manager.start())

    def run(self) -> Sample:
        return self.loop.run_until_complete(self._run())

    async def _run(self) -> Sample:
        from mullama_jupyter.core.native import CompletionRequest, Message

        req = CompletionRequest(model=self.model, messages=[Message("user", self.args.prompt)],
                                options={"temperature": 0, "num_predict": self.args.tokens, "seed": SEED})
        clock, rate = Clock(), None
        async for chunk in self.manager.complete(req):
            if chunk.done and chunk.metrics and chunk.metrics.eval_duration:
                rate = chunk.metrics.eval_count / chunk.metrics.eval_duration * 1e9
            clock.content(chunk.content)
        return clock.done(rate)

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.manager.stop())
        finally:
            self.loop.close()


class Server:
    """A server subprocess on a free loopback port, read with plain http.client (no client library)."""

    name = ready_path = ""

    def __init__(self, cmd: list[str], port: int, log_path: Path) -> None:
        self.port, self.log_path = port, log_path
        self.log = open(log_path, "wb")
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_ready(timeout=300)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    conn.request("GET", self.ready_path)
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])

    def stream(self, path: str, body: dict) -> Iterator[bytes]:
        """The response's lines as they arrive; a new connection per request, as a plain client opens one."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise RuntimeError(f"{self.name}: HTTP {resp.status}: {resp.read()[:500]!r}")
            yield from iter(resp.readline, b"")
        finally:
            conn.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: both servers stop their models on the way out
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class MullamaHTTP(Server):
    name = "mullama serve /api/chat"
    ready_path = "/api/version"

    def __init__(self, store_root: str, model: str, args: argparse.Namespace, log_path: Path) -> None:
        self.args, self.model = args, model
        port = free_port()
        super().__init__([sys.executable, "-m", "mullama_jupyter.cli", "serve", "--port", str(port),
                          "--threads", str(args.threads), "--models-dir", store_root, "--quiet"], port, log_path)

    def run(self) -> Sample:
        clock, rate = Clock(), None  # started before connecting: connection setup counts in TTFT
        lines = self.stream("/api/chat", {
            "model": self.model, "messages": [{"role": "user", "content": self.args.prompt}], "stream": True,
            "keep_alive": -1, "options": {"temperature": 0, "num_predict": self.args.tokens, "seed": SEED}})
        for line in lines:
            d = json.loads(line)
            if "error" in d:
                raise RuntimeError(f"{self.name}: {d['error']}")
            if d.get("done") and d.get("eval_duration"):
                rate = d["eval_count"] / d["eval_duration"] * 1e9
            clock.content(d.get("message", {}).get("content"))
        return clock.done(rate)


def sse_content(lines: Iterator[bytes], clock: Clock) -> None:
    """Feed the content deltas of an OpenAI chat stream to ``clock``."""
    for line in lines:
        line = line.strip()
        if not line.startswith(b"data:"):
            continue  # blank separators and ": ping" comments
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        d = json.loads(data)
        if "error" in d:
            raise RuntimeError(str(d["error"]))
        for choice in d.get("choices", []):
            clock.content(choice.get("delta", {}).get("content"))


class MullamaOpenAI:
    """Our OpenAI route on the `http` side's server: what the translator costs over /api/chat."""

    name = "mullama serve /v1/chat (SSE)"

    def __init__(self, http: MullamaHTTP) -> None:
        self.http, self.args = http, http.args

    def run(self) -> Sample:
        clock = Clock()
        sse_content(self.http.stream("/v1/chat/completions", {
            "model": self.http.model, "messages": [{"role": "user", "content": self.args.prompt}], "stream": True,
            "temperature": 0, "max_tokens": self.args.tokens, "seed": SEED}), clock)
        return clock.done()

    def close(self) -> None:
        pass  # the server belongs to the http side


class LlamaCppServer(Server):
    name = "llama_cpp.server (SSE)"
    ready_path = "/v1/models"

    def __init__(self, model_path: str, args: argparse.Namespace, log_path: Path) -> None:
        self.args = args
        port = free_port()
        t = str(args.threads)
        super().__init__([sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--n_ctx", "4096",
                          "--n_threads", t, "--n_threads_batch", t, "--port", str(port), "--host", "127.0.0.1",
                          "--verbose", "False"], port, log_path)

    def run(self) -> Sample:
        # repeat_penalty: the server's default is 1.1, the library's 1.0; greedy output must match.
        clock = Clock()
        sse_content(self.stream("/v1/chat/completions", {
            "messages": [{"role": "user", "content": self.args.prompt}], "stream": True, "temperature": 0,
            "max_tokens": self.args.tokens, "seed": SEED, "repeat_penalty": 1.0}), clock)
        return clock.done()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def llama_server_available() -> str | None:
    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as e:
        return f"{e} (pip install 'llama-cpp-python[server]')"
    return None


# ----------------------------------------------------------------------------- report


def machine_facts(args: argparse.Namespace) -> dict:
    import llama_cpp

    import mullama_jupyter
    from mullama_jupyter.core.system import physical_cores

    cpu = platform.processor() or "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "physical_cores": physical_cores(),
            "python": platform.python_version(), "llama_cpp_python": llama_cpp.__version__,
            "mullama": mullama_jupyter.__version__, "threads": args.threads, "tokens": args.tokens,
            "runs": args.runs, "prompt": args.prompt, "repeat_prompt": args.repeat_prompt,
            "load_avg_start": os.getloadavg()}


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else math.nan


def summarise(samples: list[Sample], base: list[Sample]) -> dict:
    """Medians per side, and ratios to direct taken round by round (paired), then their median:
    sides of one round ran back to back, so load drift on a shared machine cancels in the ratio."""
    rates = [s.runner_rate for s in samples if s.runner_rate]
    return {
        "ttft_ms": _median([s.ttft * 1000 for s in samples]),
        "decode_tps": _median([s.decode_rate for s in samples]),
        "total_tps": _median([s.total_rate for s in samples]),
        "tokens": sorted({s.tokens for s in samples}),
        "runner_tps": _median(rates) if rates else None,
        "ttft_x": _median([b.ttft / s.ttft for s, b in zip(samples, base)]),
        "decode_x": _median([s.decode_rate / b.decode_rate for s, b in zip(samples, base)]),
        "total_x": _median([s.total_rate / b.total_rate for s, b in zip(samples, base)]),
    }


def print_table(summary: dict[str, dict]) -> None:
    head = ("side", "TTFT ms", "decode tok/s", "total tok/s", "tokens", "runner tok/s",
            "TTFT x", "decode x", "total x")
    rows = []
    for name, s in summary.items():
        tokens = "/".join(str(t) for t in s["tokens"])
        rows.append((name, f"{s['ttft_ms']:.1f}", f"{s['decode_tps']:.1f}", f"{s['total_tps']:.1f}", tokens,
                     f"{s['runner_tps']:.1f}" if s["runner_tps"] else "-",
                     f"{s['ttft_x']:.3f}", f"{s['decode_x']:.3f}", f"{s['total_x']:.3f}"))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for r in (head, tuple("-" * w for w in widths), *rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print("ratios vs direct (median of per-round ratios), > 1 = as fast or faster: "
          "TTFT x = direct TTFT / side TTFT; decode x and total x = side tok/s / direct tok/s")


# ----------------------------------------------------------------------------- main


def main() -> int:
    from mullama_jupyter.core.pull import pull
    from mullama_jupyter.core.store import Store
    from mullama_jupyter.core.system import physical_cores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=256, help="tokens to generate per request (default 256)")
    p.add_argument("--runs", type=int, default=5, help="measured runs per side, after one warm-up (default 5)")
    p.add_argument("--threads", type=int, default=0, help="llama.cpp threads (default: physical cores)")
    p.add_argument("--prompt", default="Write a long story about a lighthouse keeper.")
    p.add_argument("--repeat-prompt", action="store_true",
                   help="send the very same prompt every round (default: each round appends '(Take N.)', the "
                        "same for every side, so time to first token includes evaluating a fresh suffix as in "
                        "a chat, rather than a fully cached prompt)")
    p.add_argument("--model", default="smollm2:135m", help="alias or path to a .gguf (default smollm2:135m)")
    p.add_argument("--skip-server", action="store_true", help="skip llama_cpp.server")
    p.add_argument("--json", metavar="FILE", help="write the raw numbers here")
    args = p.parse_args()
    args.threads = args.threads or physical_cores()

    facts = machine_facts(args)
    for k, v in facts.items():
        print(f"{k:>18}: {v}")

    sides: list = []
    samples: dict[str, list[Sample]] = {}
    warmups: dict[str, Sample] = {}
    with tempfile.TemporaryDirectory(prefix="mullama-bench-") as tmp:
        store = Store(Path(tmp) / "models")
        record = pull(store, args.model, lambda _p: None)
        model_path, model_name = str(record.model_path), str(record.name)
        print(f"{'model':>18}: {model_name} ({model_path})\n")
        try:
            # Sides start (and warm up) one after the other; the first request of each pays page-in.
            starters = [("direct", lambda: Direct(model_path, args)),
                        ("manager", lambda: InProcess(store, model_name, args)),
                        ("http", lambda: MullamaHTTP(str(store.root), model_name, args, Path(tmp) / "mullama.log")),
                        ("openai", lambda: MullamaOpenAI(sides[2]))]
            why_not = "skipped (--skip-server)" if args.skip_server else llama_server_available()
            if why_not:
                print(f"note: llama_cpp.server {why_not}")
            else:
                starters.append(("server", lambda: LlamaCppServer(model_path, args, Path(tmp) / "llama_server.log")))
            for _, start in starters:
                side = start()
                sides.append(side)
                warmups[side.name] = side.run()
                samples[side.name] = []
                print(f"started and warmed up: {side.name}", flush=True)
            direct = sides[0]
            # Interleaved rounds, rotating who goes first, so slow drift in machine load spreads over
            # every side instead of penalising whichever ran last. Never two requests at once.
            base_prompt = args.prompt
            for r in range(args.runs):
                args.prompt = base_prompt if args.repeat_prompt else f"{base_prompt} (Take {r + 1}.)"
                for side in sides[r % len(sides):] + sides[:r % len(sides)]:
                    s = side.run()
                    s.tokens = direct.count(s.text)
                    samples[side.name].append(s)
                print(f"round {r + 1}/{args.runs} done", flush=True)
            args.prompt = base_prompt
            for s in warmups.values():
                s.tokens = direct.count(s.text)
        finally:
            for side in reversed(sides):
                try:
                    side.close()
                except Exception as e:  # noqa: BLE001 - keep stopping the others
                    print(f"warning: stopping {side.name}: {e}", file=sys.stderr)

    facts["load_avg_end"] = os.getloadavg()
    summary = {name: summarise(ss, samples[Direct.name]) for name, ss in samples.items()}
    print()
    print_table(summary)
    reference = [s.text for s in samples[Direct.name]]
    differ = [n for n, ss in samples.items() if any(s.text != ref for s, ref in zip(ss, reference))]
    if differ:
        print(f"note: text differs from direct's in the same round on: {', '.join(differ)} (rates stay comparable)")
    ratio = summary[MullamaHTTP.name]["decode_x"]
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"verdict: HTTP decode = {ratio:.3f}x direct; target >= {TARGET}x: {verdict}"
          f" (load average {facts['load_avg_start'][0]:.2f} -> {facts['load_avg_end'][0]:.2f}; "
          "trust only figures from an idle machine)")

    if args.json:
        out = {"machine": facts, "model": {"name": model_name, "file": Path(model_path).name}, "summary": summary,
               "target": {"http_decode_ratio": ratio, "min": TARGET, "pass": ratio >= TARGET},
               "samples": {n: [asdict(s) | {"decode_tps": s.decode_rate, "total_tps": s.total_rate} for s in ss]
                           for n, ss in samples.items()},
               "warmups": {n: asdict(s) for n, s in warmups.items()}}
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        print(f"raw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every server and runner was stopped", file=sys.stderr)
        raise SystemExit(130)

"""The runner child process: loads one model into an engine and serves protocol requests.

The main thread loads the model and runs requests in order (a llama context serves one sequence at
a time); a second thread reads commands from stdin, so a cancel arrives while a completion runs.
When stdin closes — the parent exited or died — the process exits; on Linux it also asks the kernel
to kill it when the parent dies, so a killed Jupyter server never leaves runners behind.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO

from . import protocol
from .engines import EngineError, make_engine


class Channel:
    """Thread-safe writer of protocol lines on a private copy of stdout."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._lock = threading.Lock()

    def send(self, msg: dict[str, Any]) -> None:
        data = protocol.encode(msg)
        with self._lock:
            self._out.write(data)
            self._out.flush()


class TokenBatcher:
    """Sends a completion's text at most once per ``interval`` seconds (the first piece at once).

    Every message wakes the manager, the HTTP server and the client on a machine whose cores are busy
    decoding; coalescing the tokens of a ~25 ms window halves that work at 80 tokens/s while the
    stream still looks continuous to a reader.
    """

    def __init__(self, chan: Channel, rid: int, interval: float):
        self.chan, self.rid, self.interval = chan, rid, interval
        self.pending: list[str] = []
        self.logprobs: list[Any] = []
        self.last = 0.0

    def emit(self, text: str, logprobs: list[Any] | None = None) -> None:
        self.pending.append(text)
        if logprobs:
            self.logprobs.extend(logprobs)
        now = time.monotonic()
        if now - self.last >= self.interval:
            self._send()
            self.last = now

    def done(self, final: dict[str, Any]) -> None:
        self._send()
        self.chan.send({"t": "done", "id": self.rid, **final})

    def _send(self) -> None:
        if self.pending or self.logprobs:
            msg: dict[str, Any] = {"t": "tok", "id": self.rid, "text": "".join(self.pending)}
            if self.logprobs:
                msg["lp"] = self.logprobs
                self.logprobs = []
            self.chan.send(msg)
            self.pending.clear()


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def _take_stdout() -> BinaryIO:
    proto = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)  # anything printed from now on (Python or C) lands on stderr
    sys.stdout = sys.stderr
    return proto


def main() -> int:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    chan = Channel(_take_stdout())
    stdin = sys.stdin.buffer

    first = stdin.readline()
    if not first:
        return 0
    try:
        load = protocol.decode(first)
        engine = make_engine(load)
    except EngineError as e:
        chan.send({"t": "error", "kind": e.kind, "message": str(e)})
        return 1
    except Exception as e:  # noqa: BLE001 - report, then exit: the parent shows a clean error
        traceback.print_exc()
        chan.send({"t": "error", "kind": "load", "message": f"{type(e).__name__}: {e}"})
        return 1
    chan.send({"t": "ready", "info": engine.info()})

    work: queue.Queue[dict[str, Any]] = queue.Queue()
    cancelled: set[int] = set()

    def read_commands() -> None:
        for line in stdin:
            try:
                msg = protocol.decode(line)
            except ValueError:
                continue
            op = msg.get("op")
            if op == "cancel":
                cancelled.add(msg.get("id"))
            elif op == "exit":
                break
            else:
                work.put(msg)
        # stdin closed or exit asked: stop now, even mid-request. The engine holds no state worth
        # saving, freeing a model under a running decode could crash, and the kernel reclaims
        # everything at exit anyway.
        os._exit(0)

    threading.Thread(target=read_commands, name="runner-commands", daemon=True).start()

    # Inference stays on the main thread, where the model was loaded and warmed up: llama.cpp's
    # OpenMP pool belongs to the thread that first decodes, and a second calling thread gets a
    # second pool, which on a small machine oversubscribes the cores (measured: 3x slower decode).
    while True:
        req = work.get()
        rid = req.get("id")
        try:
            if req["op"] == "complete":
                tokens = TokenBatcher(chan, rid, float(req.get("stream_interval") or 0.0))
                engine.complete(req, emit=tokens.emit, done=tokens.done, is_cancelled=lambda: rid in cancelled)
            elif req["op"] == "embed":
                chan.send({"t": "embed", "id": rid, **engine.embed(req)})
            else:
                chan.send({"t": "error", "id": rid, "kind": "invalid", "message": f"unknown op {req['op']!r}"})
        except EngineError as e:
            chan.send({"t": "error", "id": rid, "kind": e.kind, "message": str(e), **e.extra})
        except Exception as e:  # noqa: BLE001 - one bad request must not end the runner
            traceback.print_exc()
            chan.send({"t": "error", "id": rid, "kind": "internal", "message": f"{type(e).__name__}: {e}"})
        finally:
            cancelled.discard(rid)

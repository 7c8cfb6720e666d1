"""The parent's handle on one runner child process, spoken to over asyncio pipes.

Nothing here blocks the event loop: the child is started with ``asyncio.create_subprocess_exec``
and its output is read by a task. Each request gets a queue; a reader task routes the child's
lines to them by id. When the child dies, every request in flight gets ``RunnerGone`` and the
owner's ``on_exit`` callback runs, so the manager can mark the model unloaded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import sys
from typing import Any, AsyncIterator, Callable

from . import protocol

log = logging.getLogger(__name__)


class RunnerGone(Exception):
    """The child exited (or was killed) while a request was in flight."""

    def __init__(self, returncode: int | None, stderr_tail: str):
        super().__init__(f"runner exited with code {returncode}")
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class RunnerFailed(Exception):
    """The child reported an error for a request (or for its load)."""

    def __init__(self, msg: dict[str, Any]):
        super().__init__(msg.get("message", "runner error"))
        self.kind = msg.get("kind", "internal")
        self.msg = msg


class RunnerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, Any]):
        self.proc = proc
        self.info = info
        self.pid = proc.pid
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Queue[dict[str, Any] | BaseException]] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._gone: RunnerGone | None = None
        self.on_exit: Callable[["RunnerProcess"], None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._err_reader: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle

    @classmethod
    async def start(
        cls,
        model_path: str,
        load: dict[str, Any],
        *,
        engine: str = "llama",
        engine_options: dict[str, Any] | None = None,
        pooling_type: int | None = None,
        timeout: float = 600.0,
        env: dict[str, str] | None = None,
    ) -> "RunnerProcess":
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mullama_jupyter.runner",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=protocol.STREAM_LIMIT,
            # Its own session: a Ctrl-C in the terminal reaches the parent, which stops runners itself.
            start_new_session=True,
            env=env if env is not None else _child_env(),
        )
        self = cls(proc, {})
        self._err_reader = asyncio.ensure_future(self._read_stderr())
        first = {"op": "load", "engine": engine, "model_path": model_path, "load": load,
                 "engine_options": engine_options or {}, "pooling_type": pooling_type}
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(protocol.encode(first))
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise RunnerFailed({"kind": "load", "message": f"model did not load within {timeout:.0f} s"}) from None
        except BaseException:
            await self.kill()
            raise
        if not line:
            await proc.wait()
            await self._drain_stderr()
            raise RunnerGone(proc.returncode, self.stderr_tail)
        msg = protocol.decode(line)
        if msg.get("t") != "ready":
            await self.kill()
            raise RunnerFailed(msg)
        self.info = msg["info"]
        self._reader = asyncio.ensure_future(self._read())
        return self

    @property
    def alive(self) -> bool:
        return self._gone is None and self.proc.returncode is None

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    async def close(self, timeout: float = 5.0) -> None:
        """Ask the child to exit; kill it if it does not within ``timeout``."""
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.write(protocol.encode({"op": "exit"}))
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except asyncio.TimeoutError:
                await self.kill()
        await self._finish_readers()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        await self._finish_readers()

    async def _finish_readers(self) -> None:
        for t in (self._reader, self._err_reader):
            if t is not None and not t.done():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(t), 2.0)

    # ------------------------------------------------------------ reading

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                try:
                    msg = protocol.decode(line)
                except ValueError:
                    log.warning("runner %s sent a line that is not JSON", self.pid)
                    continue
                q = self._pending.get(msg.get("id"))  # lines for a cancelled request are dropped
                if q is not None:
                    q.put_nowait(msg)
        finally:
            await self.proc.wait()
            await self._drain_stderr()
            self._gone = RunnerGone(self.proc.returncode, self.stderr_tail)
            for q in self._pending.values():
                q.put_nowait(self._gone)
            if self.proc.returncode not in (0, None):
                log.warning("runner %s exited with code %s: %s", self.pid, self.proc.returncode,
                            self._stderr[-1] if self._stderr else "")
            if self.on_exit is not None:
                self.on_exit(self)

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self._stderr.append(text)
                log.debug("runner %s: %s", self.pid, text)

    async def _drain_stderr(self) -> None:
        if self._err_reader is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._err_reader), 1.0)

    # ------------------------------------------------------------ requests

    def _send(self, msg: dict[str, Any]) -> None:
        if self._gone is not None:
            raise self._gone
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(protocol.encode(msg))
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            raise RunnerGone(self.proc.returncode, self.stderr_tail) from None

    async def _request(self, op: str, payload: dict[str, Any]) -> tuple[int, asyncio.Queue[Any]]:
        rid = next(self._ids)
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._pending[rid] = q
        try:
            self._send({"op": op, "id": rid, **payload})
            assert self.proc.stdin is not None
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self._pending.pop(rid, None)
            raise RunnerGone(self.proc.returncode, self.stderr_tail) from None
        except BaseException:
            self._pending.pop(rid, None)
            raise
        return rid, q

    async def complete(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Yield the child's ``tok`` messages, then its ``done`` message. Closing early cancels."""
        rid, q = await self._request("complete", payload)
        finished = False
        try:
            while True:
                msg = await q.get()
                if isinstance(msg, BaseException):
                    finished = True
                    raise msg
                t = msg.get("t")
                if t == "error":
                    finished = True
                    raise RunnerFailed(msg)
                if t == "done":
                    finished = True
                    yield msg
                    return
                yield msg
        finally:
            self._pending.pop(rid, None)
            if not finished and self._gone is None:
                with contextlib.suppress(RunnerGone):
                    self._send({"op": "cancel", "id": rid})

    async def embed(self, payload: dict[str, Any]) -> dict[str, Any]:
        rid, q = await self._request("embed", payload)
        try:
            msg = await q.get()
        finally:
            self._pending.pop(rid, None)
        if isinstance(msg, BaseException):
            raise msg
        if msg.get("t") == "error":
            raise RunnerFailed(msg)
        return msg


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this very package, even when the parent runs from a source checkout.
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH", "")) if p)
    return env

"""The model manager: loads models into runner processes on first use and serves requests.

Runs on whichever asyncio loop hosts it (Jupyter's, ``mullama serve``'s, or a background thread of
an embedded client) and never blocks it: store work runs in threads, inference in runner processes.

- One ``_Slot`` per model name: a bounded FIFO (``max_queue``; full → ``ServerBusy``) in front of
  its runner, which serves one request at a time.
- ``keep_alive`` as in Ollama: after the last request, the runner stays for that long (default
  5 minutes); 0 unloads at once, negative (``math.inf``) keeps it forever.
- At most ``max_loaded`` runners; loading another evicts the least recently used idle one.
- A runner that dies fails its request in flight with ``RunnerCrashed``; the next request reloads.
- A request whose load options (``num_ctx``, threads, ...) differ from the running ones reloads
  the runner, as Ollama does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

from ..runner.process import RunnerFailed, RunnerGone, RunnerProcess
from ..runner.protocol import unpack_vector
from . import create as create_mod
from . import pull as pull_mod
from .create import CreateRequest
from .durations import DEFAULT_KEEP_ALIVE
from .errors import (
    Cancelled,
    ContextLengthExceeded,
    InsufficientStorage,
    InvalidName,
    InvalidRequest,
    LoadFailed,
    ModelNotFound,
    MullamaError,
    RunnerCrashed,
    RunnerError,
    ServerBusy,
    TemplateError,
)
from .gguf import GGUFInfo
from .metrics import ManagerMetrics
from .native import Chunk, CompletionRequest, EmbedRequest, EmbedResult, Metrics, Progress, TokenLogprob, ToolCall
from .options import load_options, merge
from .names import ModelName
from .prompt import Prompt, build_prompt, check_request, forced_tool, thinking_markers, tool_markers
from .quant import KNOWN
from .spec import hf_name, parse_spec
from .streamparse import OutputShaper, ThinkingSplitter, ToolCallParser, ToolFormat, call_id
from .store import ModelRecord, Store
from .system import available_memory, human_bytes, physical_cores

log = logging.getLogger(__name__)

RunnerFactory = Callable[..., Awaitable[RunnerProcess]]


@dataclass
class ManagerConfig:
    keep_alive: float = DEFAULT_KEEP_ALIVE  # seconds; math.inf = forever
    max_loaded: int = 3
    max_queue: int = 512
    num_ctx: int = 4096
    num_thread: int = 0  # 0 = physical cores
    engine: str = "llama"
    engine_options: dict[str, Any] = field(default_factory=dict)
    load_timeout: float = 600.0
    check_memory: bool = True
    alias_files: tuple[str, ...] = ()
    auto_pull: bool = False  # a request for a known but missing model pulls it first
    stream_interval: float = 0.025  # seconds; tokens generated within it reach the caller together


@dataclass
class LoadedInfo:
    """One row of ``ps``."""

    record: ModelRecord
    info: GGUFInfo
    expires_at: float  # wall clock; math.inf = never
    size: int
    context_length: int
    pid: int


class _Slot:
    def __init__(self, record: ModelRecord):
        self.record = record
        self.runner: RunnerProcess | None = None
        self.load_opts: dict[str, Any] | None = None
        self.turn = asyncio.Semaphore(1)
        self.waiting = 0
        self.active = 0
        self.keep_alive = DEFAULT_KEEP_ALIVE
        self.expires_at = math.inf
        self.last_used = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None
        self.closing: set[RunnerProcess] = set()

    @property
    def loaded(self) -> bool:
        return self.runner is not None and self.runner.alive

    @property
    def idle(self) -> bool:
        return self.active == 0 and self.waiting == 0


class Manager:
    def __init__(self, store: Store, config: ManagerConfig | None = None, *,
                 runner_factory: RunnerFactory | None = None,
                 memory_probe: Callable[[], int | None] = available_memory,
                 metrics: ManagerMetrics | None = None):
        self.store = store
        self.config = config or ManagerConfig()
        self.metrics = metrics or ManagerMetrics()
        self._factory: RunnerFactory = runner_factory or RunnerProcess.start
        self._memory_probe = memory_probe
        self._slots: dict[tuple[str, ...], _Slot] = {}
        self._room = asyncio.Condition()
        self._pull_locks: dict[str, asyncio.Lock] = {}
        self._aliases: dict[tuple[str, ...], Any] | None = None
        self._verified: dict[tuple[str, int, int], str] = {}  # DIGEST pins already checked
        self.started_at = time.time()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare_store)

    def _prepare_store(self) -> None:
        self.store.ensure()
        swept = self.store.sweep_tmp()
        if swept:
            log.info("removed %d stale temporary files from the model store", swept)

    async def stop(self) -> None:
        """End every runner (the server is going away)."""
        slots = list(self._slots.values())
        for s in slots:
            if s.timer:
                s.timer.cancel()
        await asyncio.gather(*(self._close_runner(s) for s in slots), return_exceptions=True)
        self._slots.clear()

    # ----------------------------------------------------------------- models

    async def resolve(self, name: str) -> ModelRecord:
        """The stored model ``name`` (as sent: error texts quote it verbatim, like Ollama's)."""
        if not name:
            raise InvalidRequest("model is required")
        return await asyncio.to_thread(self._load, name)

    async def _prepare(self, req: CompletionRequest) -> tuple[ModelRecord, GGUFInfo, Prompt | None]:
        """Model, metadata and rendered prompt in one trip to a worker thread (all of it touches the
        disk or renders a template from a foreign file, so none of it runs on the loop)."""
        if not req.model:
            raise InvalidRequest("model is required")

        def work() -> tuple[ModelRecord, GGUFInfo, Prompt | None]:
            record = self._load(req.model, for_inference=True)
            info = self.store.gguf_info(record.model_digest)
            if req.is_empty:
                return record, info, None
            check_request(record, info, req, req.model)
            return record, info, build_prompt(record, info, req)

        return await asyncio.to_thread(work)

    def _load(self, name: str, *, for_inference: bool = False) -> ModelRecord:
        try:
            return self.store.load(self._stored_name(name))
        except ModelNotFound:
            # Only requests that run a model pull it on demand: show/delete of a missing model stay a 404.
            if for_inference and self.config.auto_pull and self._pullable(name):
                log.info("auto_pull: pulling %s", name)
                return pull_mod.pull(self.store, name, lambda p: log.debug("pull %s: %s", name, p.status),
                                     aliases=self._alias_table())
            raise ModelNotFound(name) from None
        except InvalidName as e:
            raise InvalidName(name, e.message, hint="names look like llama3.2, llama3.2:1b or user/model:tag") from None

    def _stored_name(self, text: str) -> ModelName | str:
        """The stored name a spec addresses: ``hf:owner/repo[:QUANT][@rev]`` → ``hf.co/owner/repo:QUANT``
        (with no quant: the best quant of that repository already in the store); ``alias@rev`` → alias."""
        if not (text.startswith("hf:") or "@" in text):
            return text
        spec = parse_spec(text, self._alias_table())
        if spec.name is not None:
            return spec.name
        want = hf_name(spec.repo, "x")
        stored = [r.name for r in self.store.list()
                  if (r.name.host, r.name.namespace.lower(), r.name.model.lower())
                  == (want.host, want.namespace.lower(), want.model.lower())]
        if not stored:
            raise ModelNotFound(text)
        rank = {q: i for i, q in enumerate(KNOWN)}
        return min(stored, key=lambda n: (rank.get(n.tag.upper(), len(rank)), n.tag))

    def check_spec(self, text: str) -> None:
        """Raise the 400 a malformed spec deserves, before any work starts."""
        parse_spec(text, self._alias_table())

    def aliases(self) -> list[Any]:
        return sorted(self._alias_table().values(), key=lambda a: str(a.name))

    def _pullable(self, text: str) -> bool:
        try:
            return pull_mod.resolve(text, self._alias_table()).kind in ("package", "hf")
        except MullamaError:
            return False

    async def gguf(self, record: ModelRecord) -> GGUFInfo:
        return await asyncio.to_thread(self.store.gguf_info, record.model_digest)

    async def list(self) -> list[tuple[ModelRecord, GGUFInfo]]:
        def work() -> list[tuple[ModelRecord, GGUFInfo]]:
            out = []
            for r in self.store.list():
                try:
                    out.append((r, self.store.gguf_info(r.model_digest)))
                except MullamaError as e:
                    log.warning("skipping %s: %s", r.name, e)
            return out

        return await asyncio.to_thread(work)

    async def copy(self, source: str, destination: str) -> ModelRecord:
        return await asyncio.to_thread(self.store.copy, source, destination)

    async def delete(self, name: str) -> None:
        record = await self.resolve(name)
        await asyncio.to_thread(self.store.delete, record.name)
        slot = self._slots.get(record.name.key)
        if slot is not None:
            # Its runner keeps the (unlinked) file mapped, so a request in flight finishes normally.
            slot.keep_alive = 0
            self._schedule_expiry(slot)

    def pull(self, spec: str, digest: str | None = None) -> AsyncIterator[Progress]:
        """Pull ``spec`` with progress; ``digest`` pins the model file's sha256."""
        def job(emit: Callable[[Progress], None], stop: threading.Event) -> None:
            pull_mod.pull(self.store, spec, emit, stop.is_set, aliases=self._alias_table(), digest=digest)

        return self._progress(job, key=f"pull:{spec.strip().lower()}")

    def create(self, req: CreateRequest) -> AsyncIterator[Progress]:
        """Create a model (Ollama's create request), with progress; a base that is missing is pulled."""
        def job(emit: Callable[[Progress], None], stop: threading.Event) -> None:
            def pull_base(ref: str, emit_: Callable[[Progress], None]) -> ModelRecord:
                return pull_mod.pull(self.store, ref, emit_, stop.is_set, aliases=self._alias_table())

            create_mod.create(self.store, req, emit, pull_base, validate_template=validate_template)

        return self._progress(job, key=f"create:{req.model.lower()}")

    async def _progress(self, job: Callable[[Callable[[Progress], None], threading.Event], None],
                        key: str) -> AsyncIterator[Progress]:
        """Run a store job in a worker thread and yield its progress events as they come."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Progress | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def emit(p: Progress) -> None:
            loop.call_soon_threadsafe(events.put_nowait, p)

        def work() -> None:
            try:
                job(emit, stop)
                loop.call_soon_threadsafe(events.put_nowait, None)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                loop.call_soon_threadsafe(events.put_nowait, e)

        lock = self._pull_locks.setdefault(key, asyncio.Lock())
        async with lock:
            task = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                while (item := await events.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                stop.set()  # the consumer went away: a copy or download stops at its next chunk
                await asyncio.shield(task)

    def _alias_table(self) -> dict[tuple[str, ...], Any]:
        if self._aliases is None:
            extra = [*self.config.alias_files, *filter(None, os.environ.get("MULLAMA_ALIASES", "").split(os.pathsep))]
            self._aliases = pull_mod.load_aliases(extra)
        return self._aliases

    async def ps(self) -> list[LoadedInfo]:
        rows = []
        for s in list(self._slots.values()):
            if not s.loaded:
                continue
            assert s.runner is not None
            info = await self.gguf(s.record)
            expires = s.expires_at if not s.active else time.time() + s.keep_alive
            rows.append(LoadedInfo(s.record, info, expires, s.record.size + _kv_bytes(info, s.runner.info.get("n_ctx", 0)),
                                   int(s.runner.info.get("n_ctx", 0)), s.runner.pid))
        rows.sort(key=lambda r: r.expires_at, reverse=True)
        return rows

    def queues(self) -> dict[str, dict[str, int]]:
        """Per model that has been used: requests waiting and running, and its runner's threads (0 when
        not loaded). Read-only, for status pages."""
        return {s.record.name.display: {"waiting": s.waiting, "active": s.active,
                                        "threads": int(s.runner.info.get("threads") or 0) if s.runner else 0}
                for s in list(self._slots.values())}

    async def unload(self, name: str) -> None:
        record = await self.resolve(name)
        slot = self._slots.get(record.name.key)
        if slot is not None:
            slot.keep_alive = 0
            self._schedule_expiry(slot)
            if slot.idle:
                await self._close_runner(slot)

    # ----------------------------------------------------------------- inference

    async def render(self, req: CompletionRequest) -> str:
        """The exact prompt text a request would give the model (``_debug_render_only``)."""
        _, _, prompt = await self._prepare(req)
        return prompt.text if prompt is not None else ""

    def complete(self, req: CompletionRequest) -> AsyncIterator[Chunk]:
        """Stream a generation. Errors before the first chunk are raised from the first ``anext``."""
        return self._complete(req)

    async def _complete(self, req: CompletionRequest) -> AsyncIterator[Chunk]:
        t0 = time.perf_counter_ns()
        record, info, prompt = await self._prepare(req)
        options = self._effective(record, req.options)
        keep_alive = self._keep_alive(req.keep_alive)

        if req.is_empty:
            if keep_alive == 0:
                await self.unload(req.model)
                yield Chunk(done=True, done_reason="unload")
                return
            async with self._turn(record, keep_alive) as slot:
                await self._ensure_runner(slot, record, info, options)
            yield Chunk(done=True, done_reason="load")
            return

        assert prompt is not None
        async with self._turn(record, keep_alive) as slot:
            load_ns = await self._ensure_runner(slot, record, info, options)
            assert slot.runner is not None
            payload = {
                "prompt": prompt.text,
                "add_bos": prompt.add_bos,
                "prefix_tokens": req.context or [],
                "options": options,
                "format": req.format,
                "want_context": req.want_context,
                "stream_interval": self.config.stream_interval,
            }
            final: dict[str, Any] = {}
            forced = forced_tool(req)
            if forced is not None:
                payload["format"] = forced
            shaper = None if forced is not None else _shaper(record, info, req, prompt.text)
            if req.logprobs is not None:
                payload["logprobs"] = req.logprobs
            written: list[str] = []  # a forced call is parsed whole, at the end
            logprobs: list[TokenLogprob] = []  # held until a chunk carries text out with them
            try:
                async for msg in slot.runner.complete(payload):
                    if msg["t"] != "tok":
                        final = msg
                        continue
                    if "lp" in msg:
                        logprobs += [_token_logprob(e) for e in msg["lp"]]
                    if forced is not None:
                        written.append(msg["text"])
                    elif shaper is None:
                        if msg["text"] or logprobs:
                            yield Chunk(content=msg["text"], logprobs=logprobs)
                            logprobs = []
                    else:
                        content, thinking, calls = shaper.feed(msg["text"])
                        if content or thinking or calls:
                            yield Chunk(content=content, thinking=thinking, tool_calls=calls, logprobs=logprobs)
                            logprobs = []
                if forced is not None:
                    yield Chunk(tool_calls=[_forced_call("".join(written))], logprobs=logprobs)
                    logprobs = []
                if shaper is not None:
                    content, thinking, calls = shaper.flush()
                    if content or thinking or calls or logprobs:
                        yield Chunk(content=content, thinking=thinking, tool_calls=calls, logprobs=logprobs)
            except RunnerGone as e:
                raise RunnerCrashed() from e
            except RunnerFailed as e:
                raise _runner_error(e) from None
        eval_ns = int(final.get("eval_duration", 0))
        self.metrics.generation(record.name.display, int(final.get("prompt_eval_count", 0)),
                                int(final.get("eval_count", 0)),
                                (load_ns + int(final.get("prompt_eval_duration", 0))) / 1e9,
                                int(final.get("eval_count", 0)) / (eval_ns / 1e9) if eval_ns else 0.0)
        metrics = Metrics(
            total_duration=time.perf_counter_ns() - t0,
            load_duration=load_ns,
            prompt_eval_count=int(final.get("prompt_eval_count", 0)),
            prompt_eval_duration=int(final.get("prompt_eval_duration", 0)),
            eval_count=int(final.get("eval_count", 0)),
            eval_duration=int(final.get("eval_duration", 0)),
        )
        yield Chunk(done=True, done_reason=final.get("reason", "stop"), metrics=metrics, context=final.get("context"),
                    stop_sequence=final.get("stop_sequence"))

    async def embed(self, req: EmbedRequest) -> EmbedResult:
        t0 = time.perf_counter_ns()
        if not req.model:
            raise InvalidRequest("model is required")
        record = await asyncio.to_thread(self._load, req.model, for_inference=True)
        info = await self.gguf(record)
        options = self._effective(record, req.options)
        keep_alive = self._keep_alive(req.keep_alive)
        if any(not isinstance(t, str) for t in req.inputs):
            raise InvalidRequest("invalid input type")
        if any(t == "" for t in req.inputs):
            raise InvalidRequest("input contains an empty string", hint="remove empty inputs")
        if req.dimensions is not None and req.dimensions <= 0:
            raise InvalidRequest("dimensions must be a positive integer")
        async with self._turn(record, keep_alive) as slot:
            load_ns = await self._ensure_runner(slot, record, info, options)
            assert slot.runner is not None
            if not req.inputs:
                return EmbedResult([], 0, time.perf_counter_ns() - t0, load_ns)
            try:
                msg = await slot.runner.embed({
                    "inputs": req.inputs,
                    "truncate": req.truncate,
                    "normalize": req.normalize,
                    "num_ctx": slot.load_opts["num_ctx"] if slot.load_opts else options["num_ctx"],
                })
            except RunnerGone as e:
                raise RunnerCrashed() from e
            except RunnerFailed as e:
                raise _runner_error(e) from None
        vectors = [unpack_vector(v) for v in msg["vectors"]]
        if req.dimensions:
            vectors = [_shrink(v, req.dimensions, req.normalize) for v in vectors]
        return EmbedResult(vectors, int(msg.get("prompt_eval_count", 0)), time.perf_counter_ns() - t0, load_ns)

    # ----------------------------------------------------------------- scheduling

    def _effective(self, record: ModelRecord, request: dict[str, Any]) -> dict[str, Any]:
        """Built-in defaults < the manager's configuration < the model's PARAMETERs < the request."""
        configured = {"num_ctx": self.config.num_ctx}
        if self.config.num_thread:
            configured["num_thread"] = self.config.num_thread
        return merge(configured, record.params, request)

    def _keep_alive(self, value: float | None) -> float:
        return self.config.keep_alive if value is None else value

    @contextlib.asynccontextmanager
    async def _turn(self, record: ModelRecord, keep_alive: float) -> AsyncIterator[_Slot]:
        slot = self._slots.get(record.name.key)
        if slot is None:
            slot = self._slots[record.name.key] = _Slot(record)
        if slot.waiting >= self.config.max_queue:
            raise ServerBusy()
        slot.waiting += 1
        self.metrics.queue_depth(record.name.display, slot.waiting)
        try:
            await slot.turn.acquire()
        finally:
            slot.waiting -= 1
            self.metrics.queue_depth(record.name.display, slot.waiting)
        slot.active += 1
        if slot.timer:
            slot.timer.cancel()
            slot.timer = None
        slot.keep_alive = keep_alive
        try:
            yield slot
        finally:
            slot.active -= 1
            slot.last_used = time.monotonic()
            slot.turn.release()
            self._schedule_expiry(slot)
            async with self._room:
                self._room.notify_all()

    def _schedule_expiry(self, slot: _Slot) -> None:
        if slot.timer:
            slot.timer.cancel()
            slot.timer = None
        if not slot.idle:
            return
        ka = slot.keep_alive
        if ka == math.inf:
            slot.expires_at = math.inf
            return
        slot.expires_at = time.time() + max(ka, 0)
        loop = asyncio.get_running_loop()
        if ka <= 0:
            loop.create_task(self._expire(slot))
        else:
            slot.timer = loop.call_later(ka, lambda: loop.create_task(self._expire(slot)))

    async def _expire(self, slot: _Slot) -> None:
        if slot.idle and slot.loaded and time.time() >= slot.expires_at - 0.01:
            await self._close_runner(slot)

    async def _close_runner(self, slot: _Slot) -> None:
        runner, slot.runner, slot.load_opts = slot.runner, None, None
        if runner is not None:
            slot.closing.add(runner)
            try:
                await runner.close()
            finally:
                slot.closing.discard(runner)
                self.metrics.model_unloaded(slot.record.name.display)
                log.info("unloaded %s", slot.record.name)

    def _on_runner_exit(self, slot: _Slot, runner: RunnerProcess) -> None:
        if slot.runner is runner:
            slot.runner, slot.load_opts = None, None
            self.metrics.runner_restart(slot.record.name.display)
            log.warning("runner of %s exited unexpectedly (code %s); the next request reloads it",
                        slot.record.name, runner.proc.returncode)

    async def _ensure_runner(self, slot: _Slot, record: ModelRecord, info: GGUFInfo, options: dict[str, Any]) -> int:
        """Make sure ``slot`` has a runner that fits ``options``; returns nanoseconds spent loading."""
        wanted = self._load_options(record, info, options)
        if slot.loaded and slot.load_opts == wanted and slot.record.model_digest == record.model_digest:
            slot.record = record
            return 0
        if slot.runner is not None:
            await self._close_runner(slot)
        slot.record = record
        await self._make_room(slot)
        self._check_memory(record, info, wanted["num_ctx"])
        await asyncio.to_thread(self._check_pin, record)
        t0 = time.perf_counter_ns()
        try:
            runner = await self._factory(
                str(await asyncio.to_thread(self.store.model_file, record)), wanted, engine=self.config.engine,
                engine_options=self.config.engine_options, pooling_type=info.pooling_type,
                timeout=self.config.load_timeout,
            )
        except RunnerGone as e:
            raise LoadFailed(f"model runner exited while loading '{record.name}' (code {e.returncode})",
                             hint="the file may be damaged or unsupported by this llama.cpp") from None
        except RunnerFailed as e:
            raise LoadFailed(f"failed to load '{record.name}': {e}") from None
        runner.on_exit = lambda r: self._on_runner_exit(slot, r)
        slot.runner, slot.load_opts = runner, wanted
        self.metrics.model_loaded(record.name.display, (time.perf_counter_ns() - t0) / 1e9)
        log.info("loaded %s in %.2f s (pid %s, n_ctx %s, threads %s)", record.name, (time.perf_counter_ns() - t0) / 1e9,
                 runner.pid, runner.info.get("n_ctx"), runner.info.get("threads"))
        return time.perf_counter_ns() - t0

    def _check_pin(self, record: ModelRecord) -> None:
        """A Modelfile DIGEST is checked against the weights themselves before every load."""
        pin = record.settings.get("digest")
        if not pin:
            return
        path = record.model_path
        st = path.stat()
        stamp = (str(path), st.st_mtime_ns, st.st_size)
        if self._verified.get(stamp) == pin:
            return
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(4 << 20):
                h.update(chunk)
        got = "sha256:" + h.hexdigest()
        if got != pin:
            raise LoadFailed(f"digest mismatch: expected {pin}, got {got}",
                             hint=f"the weights of '{record.name}' changed on disk; pull or create it again")
        self._verified[stamp] = pin

    def _load_options(self, record: ModelRecord, info: GGUFInfo, options: dict[str, Any]) -> dict[str, Any]:
        wanted = load_options(options)
        settings = record.settings
        if "gpu_layers" in settings:
            wanted["num_gpu"] = int(settings["gpu_layers"])
        if "flash_attention" in settings:
            wanted["flash_attention"] = bool(settings["flash_attention"])
        if record.adapters:
            wanted["adapters"] = [str(p) for p in record.adapters]
        num_ctx = int(wanted["num_ctx"])
        if info.context_length:
            num_ctx = min(num_ctx, int(info.context_length))
        wanted["num_ctx"] = max(num_ctx, 1)
        wanted["num_thread"] = int(wanted.get("num_thread") or 0) or physical_cores()
        return wanted

    async def _make_room(self, slot: _Slot) -> None:
        async with self._room:
            while True:
                loaded = [s for s in self._slots.values() if s is not slot and s.loaded]
                if len(loaded) < max(self.config.max_loaded, 1):
                    return
                idle = [s for s in loaded if s.idle]
                if idle:
                    victim = min(idle, key=lambda s: s.last_used)
                    log.info("unloading %s to make room (max_loaded=%d)", victim.record.name, self.config.max_loaded)
                    await self._close_runner(victim)
                    continue
                await self._room.wait()

    def _check_memory(self, record: ModelRecord, info: GGUFInfo, n_ctx: int) -> None:
        if not self.config.check_memory or self.config.engine != "llama":
            return
        have = self._memory_probe()
        need = record.size + _kv_bytes(info, n_ctx)
        if have is not None and need > have:
            raise InsufficientStorage(
                f"model requires more system memory ({human_bytes(need)}) than is available ({human_bytes(have)})",
                hint="unload other models or lower num_ctx",
            )


def _token_logprob(entry: list[Any]) -> TokenLogprob:
    token, logprob, raw, top = entry
    return TokenLogprob(token, logprob, raw, [(t, lp) for t, lp in top])


def _forced_call(text: str) -> ToolCall:
    """The call a grammar made the model write: ``{"name": ..., "arguments": {...}}``."""
    try:
        data = json.loads(text)
        return ToolCall(data["name"], dict(data["arguments"]), id=call_id())
    except (ValueError, KeyError, TypeError):
        raise RunnerError("the model did not finish its tool call (raise num_predict)",
                          hint="the call was cut off before its JSON closed") from None


def _shaper(record: ModelRecord, info: GGUFInfo, req: CompletionRequest, prompt: str) -> OutputShaper | None:
    """How to split this model's output: thinking tags, tool-call markers (only when tools were given)."""
    think = thinking_markers(record, info)
    tools = tool_markers(record, info) if req.tools and req.tool_choice != "none" else None
    if think is None and tools is None:
        return None
    splitter = None
    if think is not None:
        # A template that opens the thinking block itself leaves the model already inside it.
        splitter = ThinkingSplitter(*think, inside=prompt.rstrip().endswith(think[0]))
    parser = ToolCallParser(ToolFormat(**tools)) if tools is not None else None
    return OutputShaper(splitter, parser, keep_thinking=req.think is not False)


def validate_template(text: str) -> None:
    """Parse a TEMPLATE as Ollama's Go dialect; a bad one is the client's error (400) at create time,
    where at chat time it would be the server's (500)."""
    from .ollama_template import parse

    try:
        parse(text)
    except TemplateError as e:
        raise InvalidRequest(e.message, hint="fix the TEMPLATE (Go text/template syntax)") from None


def _runner_error(e: RunnerFailed) -> MullamaError:
    if e.kind == "context_length":
        return ContextLengthExceeded(int(e.msg.get("n_tokens", 0)), int(e.msg.get("n_ctx", 0)))
    if e.kind == "invalid":
        return InvalidRequest(str(e))
    if e.kind == "cancel":
        return Cancelled()
    return RunnerError(str(e))


def _kv_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """f16 K and V for every layer: what llama.cpp allocates for the context on top of the weights."""
    arch = info.architecture
    md = info.metadata
    try:
        layers = int(md.get(f"{arch}.block_count", 0))
        embd = int(md.get(f"{arch}.embedding_length", 0))
        heads = int(md.get(f"{arch}.attention.head_count", 0)) or 1
        heads_kv = int(md.get(f"{arch}.attention.head_count_kv", heads)) or heads
    except (TypeError, ValueError):
        return 0
    return 2 * layers * n_ctx * (embd * heads_kv // heads) * 2


def _shrink(v: list[float], dims: int, normalize: bool) -> list[float]:
    v = v[:dims]
    if normalize:
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        v = [x / norm for x in v]
    return v

"""The runner with the real model, through a real child process; plus the stop-string filter."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest

from mullama_jupyter.core.errors import ContextLengthExceeded, InvalidRequest, RunnerCrashed
from mullama_jupyter.core.manager import Manager
from mullama_jupyter.core.native import CompletionRequest, EmbedRequest, Message
from mullama_jupyter.core.store import Store
from mullama_jupyter.runner.engines import StopFilter
from tests.conftest import MODEL


def test_stop_filter_holds_back_possible_stop_prefixes():
    f = StopFilter(["###", "END"])
    assert f.feed("Hello #") == ("Hello ", False)
    assert f.feed("#") == ("", False)
    assert f.feed(" world") == ("## world", False)
    assert f.feed("the EN") == ("the ", False)
    assert f.feed("D and more") == ("", True)
    g = StopFilter(["</s>"])
    assert g.feed("a</") == ("a", False)
    assert g.flush() == "</"
    assert StopFilter([]).feed("x") == ("x", False)
    h = StopFilter(["b", "ab"])
    assert h.feed("xab") == ("x", True) and h.matched == "ab"  # the earliest match wins, and is named


def ask(text, **options):
    return CompletionRequest(model=MODEL, messages=[Message("user", text)], options={"temperature": 0, **options})


async def collect(m, req):
    return [c async for c in m.complete(req)]


pytestmark = pytest.mark.model


async def test_stop_strings_end_generation_and_are_not_emitted(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        full = "".join(c.content for c in await collect(m, ask("Count from 1 to 10, separated by commas.", num_predict=48)))
        assert "5" in full
        cut = await collect(m, ask("Count from 1 to 10, separated by commas.", num_predict=48, stop=["5"]))
        text = "".join(c.content for c in cut)
        assert "5" not in text and full.startswith(text) and cut[-1].done_reason == "stop"
        assert cut[-1].stop_sequence == "5"
        assert (await collect(m, ask("Count from 1 to 10.", num_predict=4)))[-1].stop_sequence is None
    finally:
        await m.stop()


async def test_log_probabilities_come_with_every_token(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        req = ask("Count from 1 to 10, separated by commas.", num_predict=10)
        req.logprobs = 3
        chunks = await collect(m, req)
        entries = [e for c in chunks for e in c.logprobs]
        assert len(entries) == chunks[-1].metrics.eval_count == 10
        assert "".join(e.token for e in entries) == "".join(c.content for c in chunks)
        for e in entries:
            assert e.logprob <= 0 and len(e.top) == 3 and bytes(e.bytes).decode() == e.token
            # Greedy decoding picks the likeliest token; the alternatives come best first.
            assert e.top[0] == (e.token, pytest.approx(e.logprob))
            assert [lp for _, lp in e.top] == sorted((lp for _, lp in e.top), reverse=True)
        plain = await collect(m, ask("Count from 1 to 10, separated by commas.", num_predict=10))
        assert "".join(c.content for c in plain) == "".join(e.token for e in entries)
        assert all(not c.logprobs for c in plain)
    finally:
        await m.stop()


async def test_json_format_constrains_the_output(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        req = ask("Give a person's name and age as JSON.", num_predict=64)
        req.format = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                      "required": ["name", "age"]}
        text = "".join(c.content for c in await collect(m, req))
        data = json.loads(text)
        assert isinstance(data["name"], str) and isinstance(data["age"], int)
    finally:
        await m.stop()


async def test_prompt_longer_than_the_context_fails_before_any_token(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        with pytest.raises(ContextLengthExceeded) as e:
            await collect(m, ask("word " * 400, num_ctx=128))
        assert e.value.n_ctx == 128 and e.value.n_tokens > 400
        with pytest.raises(ContextLengthExceeded):
            await m.embed(EmbedRequest(model=MODEL, inputs=["word " * 400], truncate=False, options={"num_ctx": 128}))
        r = await m.embed(EmbedRequest(model=MODEL, inputs=["word " * 400], options={"num_ctx": 128}))
        assert r.prompt_eval_count == 128  # truncated to the context
    finally:
        await m.stop()


async def test_num_predict_is_clipped_to_the_context_left(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        chunks = await collect(m, ask("Tell me a very long story.", num_ctx=64, num_predict=1000))
        final = chunks[-1]
        assert final.metrics.prompt_eval_count + final.metrics.eval_count <= 64
        assert final.done_reason in ("length", "stop")
    finally:
        await m.stop()


async def test_a_native_crash_mid_stream_is_a_clear_error_and_the_next_request_reloads(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        it = m.complete(ask("Write a long story about a lighthouse.", num_predict=500))
        await it.__anext__()
        (row,) = await m.ps()
        os.kill(row.pid, signal.SIGSEGV)
        with pytest.raises(RunnerCrashed) as e:
            async for _ in it:
                pass
        assert e.value.message == "model runner terminated unexpectedly"
        chunks = await collect(m, ask("Say hi.", num_predict=4))
        assert chunks[-1].done and chunks[-1].metrics.load_duration > 0
        (row2,) = await m.ps()
        assert row2.pid != row.pid
    finally:
        await m.stop()


async def test_cancelling_a_long_generation_frees_the_model_quickly(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        it = m.complete(ask("Write a long story about a lighthouse.", num_predict=2000))
        await it.__anext__()
        await it.aclose()
        t0 = time.monotonic()
        chunks = await collect(m, ask("Say hi.", num_predict=4))
        assert chunks[-1].done and time.monotonic() - t0 < 1.5
    finally:
        await m.stop()


async def test_bad_format_is_a_400(model_store_dir):
    m = Manager(Store(model_store_dir))
    try:
        req = ask("x", num_predict=2)
        req.format = {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}
        with pytest.raises(InvalidRequest, match="invalid format"):
            await collect(m, req)
    finally:
        await m.stop()


async def test_the_event_loop_never_waits_on_inference_or_hashing(model_store_dir, tmp_path):
    """A heartbeat on the loop keeps ticking while a 98 MB model is hashed and another one generates."""
    lags: list[float] = []
    stop = False

    async def heartbeat() -> None:
        while not stop:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t - 0.01)

    serving = Manager(Store(model_store_dir))
    pulling = Manager(Store(tmp_path / "other"))
    beat = asyncio.ensure_future(heartbeat())
    try:
        async def pull_all() -> None:
            async for _ in pulling.pull(MODEL):
                pass

        await asyncio.gather(pull_all(), collect(serving, ask("Write a story.", num_predict=64)))
    finally:
        stop = True
        await beat
        await serving.stop()
    assert len(lags) > 50
    assert max(lags) < 0.1, f"the loop stalled for {max(lags) * 1000:.0f} ms"


async def test_a_file_llama_cpp_cannot_load_fails_cleanly_without_leaking_its_path(tmp_path):
    from mullama_jupyter.core.errors import LoadFailed
    from mullama_jupyter.core.pull import pull
    from tests.gguf_factory import tiny_llama_gguf

    store = Store(tmp_path / "s")
    pull(store, str(tiny_llama_gguf(tmp_path / "fake.gguf")), lambda p: None)  # metadata only: no real weights
    m = Manager(store)
    try:
        with pytest.raises(LoadFailed) as e:
            await collect(m, CompletionRequest(model="fake", messages=[Message("user", "hi")]))
        assert str(tmp_path) not in e.value.message and "/" not in e.value.message.replace("n/a", "")
        assert await m.ps() == []
    finally:
        await m.stop()

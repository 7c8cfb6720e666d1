"""The manager through real runner processes, with the deterministic echo engine (fast, scriptable)."""

import asyncio
import math
import time

import pytest

from mullama_jupyter.core.errors import (
    InsufficientStorage, InvalidRequest, ModelNotFound, RunnerCrashed, RunnerError, ServerBusy,
)
from mullama_jupyter.core.manager import Manager, ManagerConfig
from mullama_jupyter.core.native import CompletionRequest, EmbedRequest, Message
from mullama_jupyter.core.pull import pull
from mullama_jupyter.core.store import Store
from tests.gguf_factory import tiny_llama_gguf


def echo(store, **kw):
    engine_options = kw.pop("engine_options", {})
    kw.setdefault("stream_interval", 0)  # one chunk per token, so tests can count them
    return Manager(store, ManagerConfig(engine="echo", engine_options=engine_options, **kw))


def ask(text, model="tiny", **kw):
    return CompletionRequest(model=model, raw_prompt=text, **kw)


async def collect(manager, req):
    return [c async for c in manager.complete(req)]


async def test_streams_tokens_then_a_final_chunk_with_metrics(tiny_store):
    m = echo(tiny_store)
    try:
        chunks = await collect(m, ask("one two three"))
        assert "".join(c.content for c in chunks) == "one two three "
        final = chunks[-1]
        assert final.done and final.done_reason == "stop"
        assert final.metrics.eval_count == 3 and final.metrics.prompt_eval_count == 3
        assert final.metrics.load_duration > 0
        again = await collect(m, ask("four"))
        assert again[-1].metrics.load_duration == 0  # already loaded
    finally:
        await m.stop()


async def test_num_predict_and_stop(tiny_store):
    m = echo(tiny_store)
    try:
        chunks = await collect(m, ask("a b c d e", options={"num_predict": 2}))
        assert "".join(c.content for c in chunks) == "a b " and chunks[-1].done_reason == "length"
        chunks = await collect(m, ask("a b STOP d", options={"stop": ["STOP"]}))
        assert "".join(c.content for c in chunks) == "a b " and chunks[-1].done_reason == "stop"
        assert chunks[-1].stop_sequence == "STOP"
        scored = await collect(m, ask("a b", logprobs=1))
        assert [(e.token, e.logprob, e.top) for c in scored for e in c.logprobs] == [("a ", 0.0, [("a ", 0.0)]),
                                                                                    ("b ", 0.0, [("b ", 0.0)])]
    finally:
        await m.stop()


async def test_full_queue_answers_busy_and_one_request_runs_at_a_time(tiny_store):
    m = echo(tiny_store, max_queue=2, engine_options={"delay": 0.02})
    try:
        await collect(m, ask("warm"))
        t0 = time.monotonic()
        results = await asyncio.gather(*(collect(m, ask("w " * 5)) for _ in range(8)), return_exceptions=True)
        elapsed = time.monotonic() - t0
        busy = [r for r in results if isinstance(r, ServerBusy)]
        ok = [r for r in results if isinstance(r, list)]
        assert len(ok) + len(busy) == 8 and busy and ok
        assert busy[0].message == "server busy, please try again.  maximum pending requests exceeded"
        # One at a time: the accepted requests took (at least) the sum of their generation times.
        assert elapsed >= len(ok) * 5 * 0.02 * 0.9
    finally:
        await m.stop()


async def test_runner_crash_is_a_clear_error_and_the_next_request_reloads(tiny_store):
    m = echo(tiny_store)
    try:
        got = []
        with pytest.raises(RunnerCrashed) as e:
            async for c in m.complete(ask("a b c d [[crash]] e f")):
                got.append(c.content)
        assert e.value.message == "model runner terminated unexpectedly"
        assert got == ["a ", "b "]  # the tokens before the crash arrived
        chunks = await collect(m, ask("still alive"))
        assert chunks[-1].metrics.load_duration > 0  # reloaded
    finally:
        await m.stop()


async def test_an_error_before_the_first_token_is_raised_from_the_first_step(tiny_store):
    m = echo(tiny_store)
    try:
        it = m.complete(ask("[[fail]]"))
        with pytest.raises(RunnerError, match="echo engine told to fail"):
            await it.__anext__()
    finally:
        await m.stop()


async def test_closing_the_stream_cancels_generation(tiny_store):
    m = echo(tiny_store, engine_options={"delay": 0.1})
    try:
        it = m.complete(ask("x " * 100))
        await it.__anext__()
        await it.aclose()
        t0 = time.monotonic()
        chunks = await collect(m, ask("next"))
        assert chunks[-1].done
        assert time.monotonic() - t0 < 1.0  # the runner dropped the old request at its next token
    finally:
        await m.stop()


async def test_keep_alive_zero_unloads_and_forever_stays(tiny_store):
    m = echo(tiny_store)
    try:
        await collect(m, ask("x", keep_alive=0))
        await asyncio.sleep(0.3)
        assert await m.ps() == []
        await collect(m, ask("x", keep_alive=math.inf))
        rows = await m.ps()
        assert len(rows) == 1 and rows[0].expires_at == math.inf
        await collect(m, ask("x", keep_alive=0.3))
        await asyncio.sleep(0.8)
        assert await m.ps() == []
    finally:
        await m.stop()


async def test_empty_prompt_loads_and_keep_alive_zero_unloads(tiny_store):
    m = echo(tiny_store)
    try:
        chunks = await collect(m, CompletionRequest(model="tiny"))
        assert [(c.done, c.done_reason) for c in chunks] == [(True, "load")]
        assert len(await m.ps()) == 1
        chunks = await collect(m, CompletionRequest(model="tiny", keep_alive=0))
        assert chunks[-1].done_reason == "unload"
        assert await m.ps() == []
    finally:
        await m.stop()


async def test_least_recently_used_model_is_unloaded_first(tiny_store, tmp_path):
    pull(tiny_store, str(tiny_llama_gguf(tmp_path / "other.gguf", **{"general.name": "other"})), lambda p: None)
    m = echo(tiny_store, max_loaded=1)
    try:
        await collect(m, ask("a", model="tiny"))
        await collect(m, ask("b", model="other"))
        assert [r.record.name.model for r in await m.ps()] == ["other"]
    finally:
        await m.stop()


async def test_different_load_options_reload_the_runner(tiny_store):
    m = echo(tiny_store)
    try:
        await collect(m, ask("a"))
        pid = (await m.ps())[0].pid
        await collect(m, ask("a", options={"num_ctx": 512}))
        rows = await m.ps()
        assert rows[0].pid != pid and rows[0].context_length == 512
    finally:
        await m.stop()


async def test_context_is_capped_by_the_training_length(tiny_store):
    m = echo(tiny_store)  # the tiny model says llama.context_length 2048
    try:
        await collect(m, ask("a", options={"num_ctx": 100000}))
        assert (await m.ps())[0].context_length == 2048
    finally:
        await m.stop()


async def test_errors_name_the_model(tiny_store):
    m = echo(tiny_store)
    try:
        with pytest.raises(ModelNotFound) as e:
            await collect(m, ask("x", model="Missing:v1"))
        assert e.value.message == "model 'Missing:v1' not found"
        with pytest.raises(InvalidRequest, match="model is required"):
            await collect(m, ask("x", model=""))
    finally:
        await m.stop()


async def test_not_enough_memory_fails_before_spawning(tiny_store):
    spawned = []

    async def factory(*a, **kw):
        spawned.append(a)
        raise AssertionError("must not spawn")

    m = Manager(tiny_store, ManagerConfig(engine="llama"), runner_factory=factory, memory_probe=lambda: 1000)
    with pytest.raises(InsufficientStorage, match="model requires more system memory"):
        await collect(m, ask("x"))
    assert spawned == []


async def test_embeddings_are_unit_vectors_and_dimensions_shrink_them(tiny_store):
    m = echo(tiny_store)
    try:
        r = await m.embed(EmbedRequest(model="tiny", inputs=["a", "b"]))
        assert len(r.embeddings) == 2 and all(abs(sum(x * x for x in v) - 1) < 1e-5 for v in r.embeddings)
        r = await m.embed(EmbedRequest(model="tiny", inputs=["a"], dimensions=4))
        assert len(r.embeddings[0]) == 4 and abs(sum(x * x for x in r.embeddings[0]) - 1) < 1e-5
        assert (await m.embed(EmbedRequest(model="tiny", inputs=[]))).embeddings == []
        with pytest.raises(InvalidRequest):
            await m.embed(EmbedRequest(model="tiny", inputs=[""]))
    finally:
        await m.stop()


async def test_deleting_a_loaded_model_ends_its_runner(tiny_store):
    m = echo(tiny_store)
    try:
        await collect(m, ask("x", keep_alive=math.inf))
        await m.delete("tiny")
        await asyncio.sleep(0.3)
        assert await m.ps() == []
        with pytest.raises(ModelNotFound):
            await collect(m, ask("x"))
    finally:
        await m.stop()


async def test_tokens_of_one_stream_interval_travel_together(tiny_store):
    m = echo(tiny_store, stream_interval=0.25, engine_options={"delay": 0.02})
    try:
        chunks = await collect(m, ask("a b c d e f g h"))
        texts = [c.content for c in chunks[:-1]]
        assert "".join(texts) == "a b c d e f g h "
        assert texts[0] == "a " and 2 <= len(texts) < 8  # the first token at once, then batches
    finally:
        await m.stop()


async def test_chat_messages_render_through_the_gguf_template(tiny_store):
    m = echo(tiny_store)  # the tiny model's template prints each message's content
    try:
        req = CompletionRequest(model="tiny", messages=[Message("user", "hello there")])
        chunks = await collect(m, req)
        assert "".join(c.content for c in chunks) == "hello there "
    finally:
        await m.stop()


async def test_the_managers_num_ctx_applies_unless_the_request_sets_one(tiny_store):
    m = echo(tiny_store, num_ctx=1024)
    try:
        await collect(m, ask("a"))
        assert (await m.ps())[0].context_length == 1024
        await collect(m, ask("a", options={"num_ctx": 300}))
        assert (await m.ps())[0].context_length == 300
    finally:
        await m.stop()

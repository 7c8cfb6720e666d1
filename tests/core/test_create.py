"""Creating models: one code path behind /api/create, `mullama create` and `%%mullama create`."""

from __future__ import annotations

import hashlib

import pytest

from mullama_jupyter.core.create import CreateRequest, create
from mullama_jupyter.core.errors import InvalidGGUF, InvalidRequest, LoadFailed, MullamaError
from mullama_jupyter.core.manager import Manager, ManagerConfig, validate_template
from mullama_jupyter.core.native import CompletionRequest, Message
from mullama_jupyter.core.store import Store
from tests.gguf_factory import tiny_llama_gguf

CHATML = ("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
          "<|im_start|>assistant\n")


def make(store, **kw):
    events = []
    rec = create(store, CreateRequest(**kw), events.append, validate_template=validate_template)
    return rec, [e.status for e in events]


@pytest.fixture
def tiny(tmp_path):
    store = Store(tmp_path / "s")
    digest = store.import_blob(tiny_llama_gguf(tmp_path / "w.gguf"))
    return store, digest


def test_from_an_uploaded_gguf_with_every_layer(tiny):
    store, digest = tiny
    rec, statuses = make(store, model="mine", files={"w.gguf": digest}, system="Be brief.", template=CHATML,
                         parameters={"temperature": 0.2, "stop": ["<|im_end|>"]}, license=["MIT"],
                         messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    assert statuses[0] == "parsing GGUF" and statuses[-2:] == ["writing manifest", "success"]
    assert rec.model_digest == digest and rec.system == "Be brief." and rec.template == CHATML
    assert rec.params == {"temperature": 0.2, "stop": ["<|im_end|>"]} and rec.license == ["MIT"]
    assert [m["role"] for m in rec.messages] == ["user", "assistant"]


def test_merging_over_a_base_follows_ollama(tiny):
    store, digest = tiny
    make(store, model="base", files={"w.gguf": digest}, system="S1", parameters={"temperature": 0.2, "top_k": 5},
         license=["L1"], messages=[{"role": "user", "content": "m1"}])
    rec, statuses = make(store, model="child", from_="base", parameters={"temperature": 0.9}, license=["L2"],
                         system="S2")
    assert any(s.startswith("using existing layer sha256:") for s in statuses)
    assert rec.params == {"temperature": 0.9, "top_k": 5}  # base params kept unless overridden
    assert rec.system == "S2" and rec.license == ["L1", "L2"]  # replaced / appended
    assert rec.messages == [{"role": "user", "content": "m1"}]  # kept: none were given
    assert rec.model_digest == digest


@pytest.mark.parametrize("ref", ["/etc/passwd", "/nonexistent", "/dev/random", "../../m.gguf"])
def test_from_paths_get_one_answer_and_open_nothing(tiny, ref):
    store, _ = tiny
    with pytest.raises(InvalidRequest) as e:
        make(store, model="x", from_=ref)
    assert e.value.message == "FROM must be a model name, an alias or hf: spec, or an uploaded GGUF"


@pytest.mark.parametrize("kw, error, text", [
    ({}, InvalidRequest, "neither 'from' or 'files' was specified"),
    ({"files": {"w.gguf": ""}}, InvalidRequest, "invalid digest format"),
    ({"files": {"/abs/w.gguf": "sha256:" + "0" * 64}}, InvalidRequest, "file path must be relative"),
    ({"files": {"w.gguf": "sha256:" + "0" * 64}}, MullamaError, "is missing"),
    ({"quantize": "q4_K_M", "from_": "base"}, InvalidRequest, "quantization is not supported"),
    ({"from_": "base", "template": "{{ .Foo "}, InvalidRequest, "template error"),
    ({"from_": "base", "parameters": {"temperature": "hot"}}, InvalidRequest, 'option "temperature" must be of type float32'),
    ({"from_": "base", "parameters": {"nope": 1}}, InvalidRequest, "unknown parameter 'nope'"),
    ({"from_": "base", "settings": {"digest": "sha256:" + "1" * 64}}, MullamaError, "digest mismatch: expected sha256:1111"),
    ({"from_": "base", "settings": {"gpu_layers": "all"}}, InvalidRequest, 'directive "gpu_layers" must be of type int'),
])
def test_bad_requests_fail_before_anything_is_written(tiny, kw, error, text):
    store, digest = tiny
    make(store, model="base", files={"w.gguf": digest})
    before = sorted(p.name for p in (store.root / "blobs").iterdir())
    with pytest.raises(error) as e:
        make(store, model="new", **kw)
    assert text in e.value.message
    assert [r.name.display for r in store.list()] == ["base:latest"]
    assert sorted(p.name for p in (store.root / "blobs").iterdir()) == before


def test_a_non_gguf_upload_is_refused(tiny, tmp_path):
    store, _ = tiny
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\0" * 10)
    d = store.import_blob(junk)
    with pytest.raises(InvalidGGUF):
        make(store, model="junk", files={"junk.gguf": d})
    assert store.list() == []


async def test_thinking_and_tool_formats_split_the_stream(tiny):
    store, digest = tiny
    make(store, model="thinker", files={"w.gguf": digest},
         settings={"thinking": {"start": "<think>", "end": "</think>", "enabled": True},
                   "toolformat": {"call_start": "<tool_call>", "call_end": "</tool_call>"}})
    m = Manager(store, ManagerConfig(engine="echo", stream_interval=0))
    try:
        chunks = [c async for c in m.complete(CompletionRequest(model="thinker", raw_prompt="<think> hmm </think> yes"))]
        assert "".join(c.thinking for c in chunks).strip() == "hmm"
        assert "".join(c.content for c in chunks).strip() == "yes"
        hidden = [c async for c in m.complete(CompletionRequest(model="thinker", raw_prompt="<think> hmm </think> yes",
                                                                 think=False))]
        assert "".join(c.thinking for c in hidden) == ""
        tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        said = 'ok <tool_call> {"name": "f", "arguments": {"x": 1}} </tool_call>'
        chunks = [c async for c in m.complete(CompletionRequest(model="thinker", raw_prompt=said, tools=tools))]
        calls = [t for c in chunks for t in c.tool_calls]
        assert [(t.name, t.arguments) for t in calls] == [("f", {"x": 1})]
        assert "".join(c.content for c in chunks).strip() == "ok"
    finally:
        await m.stop()


async def test_capability_lines_decide_what_requests_are_allowed(tiny):
    store, digest = tiny
    make(store, model="notools", files={"w.gguf": digest}, settings={"capabilities": {"tools": False}},
         template=CHATML + "{{ .Tools }}")
    m = Manager(store, ManagerConfig(engine="echo"))
    try:
        tools = [{"type": "function", "function": {"name": "f"}}]
        with pytest.raises(InvalidRequest, match="does not support tools"):
            [c async for c in m.complete(CompletionRequest(model="notools", messages=[Message("user", "x")],
                                                            tools=tools))]
    finally:
        await m.stop()


async def test_a_digest_pin_is_checked_again_at_load(tiny):
    store, digest = tiny
    rec, _ = make(store, model="pinned", files={"w.gguf": digest}, settings={"digest": digest})
    m = Manager(store, ManagerConfig(engine="echo"))
    try:
        assert [c async for c in m.complete(CompletionRequest(model="pinned", raw_prompt="a"))][-1].done
        await m.unload("pinned")
        with open(rec.model_path, "ab") as f:  # the weights change under the store's feet
            f.write(b"\0")
        with pytest.raises(LoadFailed) as e:
            [c async for c in m.complete(CompletionRequest(model="pinned", raw_prompt="a"))]
        got = "sha256:" + hashlib.sha256(rec.model_path.read_bytes()).hexdigest()
        assert e.value.message == f"digest mismatch: expected {digest}, got {got}"
    finally:
        await m.stop()


async def test_debug_render_shows_system_messages_and_template(tiny):
    store, digest = tiny
    make(store, model="r", files={"w.gguf": digest}, template=CHATML, system="Be brief.",
         messages=[{"role": "user", "content": "earlier"}])
    m = Manager(store, ManagerConfig(engine="echo"))
    text = await m.render(CompletionRequest(model="r", messages=[Message("user", "now")]))
    # Ollama merges consecutive messages of one role (the baked one and the request's) with a blank line.
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nearlier\n\nnow<|im_end|>\n"
                    "<|im_start|>assistant\n")

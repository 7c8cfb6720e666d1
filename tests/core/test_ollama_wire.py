"""The Ollama wire translators, without a server."""

import math

import pytest

from mullama_jupyter.core import ollama as wire
from mullama_jupyter.core.errors import InvalidOption, InvalidRequest
from mullama_jupyter.core.native import Chunk, Metrics, Progress, TokenLogprob, ToolCall


def test_generate_request():
    req = wire.parse_generate({"model": "m", "prompt": "hi", "system": "S", "options": {"temperature": 0},
                               "keep_alive": "1h30m", "format": "json", "think": False})
    assert req.messages[0].content == "hi" and req.system == "S"
    assert req.options == {"temperature": 0.0} and req.keep_alive == 5400 and req.format == "json"
    assert req.want_context
    raw = wire.parse_generate({"model": "m", "prompt": "<s>x", "raw": True})
    assert raw.raw_prompt == "<s>x" and not raw.messages and not raw.want_context
    assert wire.parse_generate({"model": "m"}).is_empty
    assert wire.parse_generate({"model": "m", "keep_alive": -1}).keep_alive == math.inf
    assert wire.parse_generate({"name": "legacy"}).model == "legacy"


@pytest.mark.parametrize("body, message", [
    ({"model": "m", "raw": True, "system": "s"}, "raw mode does not support template, system, or context"),
    ({"model": "m", "prompt": 3}, 'invalid value for "prompt": expected a string, got a number'),
    ({"model": "m", "think": "loud"}, 'invalid think value: "loud" (must be "high", "medium", "low", "max", true, or false)'),
    ({"model": "m", "format": "xml"}, 'invalid format: "\\"xml\\""; expected "json" or a valid JSON Schema object'),
    ({"model": "m", "keep_alive": "300"}, 'time: missing unit in duration "300"'),
    ({"model": "m", "keep_alive": True}, "Unsupported type: 'bool'"),
    ({"model": "m", "context": ["a"]}, 'invalid value for "context": expected an array of integers'),
    ({"model": "m", "images": ["%%%"]}, "illegal base64 data in images"),
    ({"model": 5}, 'invalid value for "model": expected a string, got a number'),
    ({"model": "m", "logprobs": True, "top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
    ({"model": "m", "logprobs": "yes"}, 'invalid value for "logprobs": expected a boolean, got a string'),
])
def test_generate_request_errors(body, message):
    with pytest.raises(InvalidRequest) as e:
        wire.parse_generate(body)
    assert e.value.message == message and e.value.status == 400


def test_option_errors_name_the_option():
    with pytest.raises(InvalidOption, match='option "top_k" must be of type integer'):
        wire.parse_chat({"model": "m", "messages": [], "options": {"top_k": "many"}})


def test_chat_request_messages():
    req = wire.parse_chat({"model": "m", "messages": [
        {"role": "System", "content": "s"}, {"role": "user"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "tool", "content": "42", "tool_name": "f"}], "tools": []})
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool"]
    assert req.messages[1].content == ""
    assert req.messages[2].tool_calls == [ToolCall("f", {"a": 1})]
    assert req.messages[3].tool_name == "f"
    for bad in ([{"content": "x"}], ["text"], [{"role": "user", "content": 1}]):
        with pytest.raises(InvalidRequest, match="invalid message at index 0"):
            wire.parse_chat({"model": "m", "messages": bad})


def test_embed_requests():
    assert wire.parse_embed({"model": "m", "input": "a"}).inputs == ["a"]
    assert wire.parse_embed({"model": "m", "input": ["a", "b"], "truncate": False}).truncate is False
    assert wire.parse_embed({"model": "m"}).inputs == []
    with pytest.raises(InvalidRequest, match="invalid input type"):
        wire.parse_embed({"model": "m", "input": [1, 2]})
    legacy = wire.parse_embeddings({"model": "m", "prompt": "x"})
    assert legacy.inputs == ["x"] and legacy.normalize is False


def test_stream_is_true_unless_false():
    assert wire.wants_stream({}) and wire.wants_stream({"stream": None}) and not wire.wants_stream({"stream": False})
    with pytest.raises(InvalidRequest):
        wire.wants_stream({"stream": "no"})


def test_chunk_shapes_follow_ollamas_field_order():
    c = wire.generate_chunk("m", Chunk(content="He"), "T")
    assert list(c) == ["model", "created_at", "response", "done"] and c["done"] is False
    m = Metrics(total_duration=10, load_duration=0, prompt_eval_count=3, prompt_eval_duration=4, eval_count=5,
                eval_duration=6)
    final = wire.generate_chunk("m", Chunk(done=True, done_reason="stop", metrics=m, context=[1, 2]), "T")
    assert list(final) == ["model", "created_at", "response", "done", "done_reason", "context", "total_duration",
                           "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"]
    assert all(isinstance(final[k], int) for k in list(final)[6:])
    chat = wire.chat_chunk("m", Chunk(content="x"), "T")
    assert chat["message"] == {"role": "assistant", "content": "x"}
    calls = wire.chat_chunk("m", Chunk(tool_calls=[ToolCall("f", {"a": 1}, id="call_1")]), "T")
    assert calls["message"]["tool_calls"] == [{"id": "call_1", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}]


def test_log_probabilities_on_the_wire():
    assert wire.parse_chat({"model": "m"}).logprobs is None
    assert wire.parse_chat({"model": "m", "logprobs": True}).logprobs == 0
    assert wire.parse_generate({"model": "m", "logprobs": True, "top_logprobs": 2}).logprobs == 2
    assert wire.parse_generate({"model": "m", "top_logprobs": 2}).logprobs is None  # only with logprobs: true
    entry = TokenLogprob("é", -0.5, [195, 169], [("é", -0.5), ("e", -1.25)])
    line = wire.chat_chunk("m", Chunk(content="é", logprobs=[entry]), "T")
    assert line["logprobs"] == [{"token": "é", "logprob": -0.5, "bytes": [195, 169], "top_logprobs": [
        {"token": "é", "logprob": -0.5, "bytes": [195, 169]}, {"token": "e", "logprob": -1.25, "bytes": [101]}]}]
    assert list(line) == ["model", "created_at", "message", "done", "logprobs"]
    bare = wire.generate_chunk("m", Chunk(content="x", logprobs=[TokenLogprob("x", -1.0, [120])]), "T")
    assert bare["logprobs"] == [{"token": "x", "logprob": -1.0, "bytes": [120]}]
    assert wire.chunk_from_wire(line).logprobs == [entry]
    merged = wire.merge_chunks([Chunk(content="a", logprobs=[entry]), Chunk(content="b", logprobs=[entry]),
                                Chunk(done=True, stop_sequence="END")])
    assert merged.logprobs == [entry, entry] and merged.stop_sequence == "END"


def test_created_at_is_rfc3339_utc():
    ts = wire.now_utc()
    assert ts.endswith("Z") and ts[10] == "T" and len(ts.split(".")[1]) <= 10


def test_non_streaming_merges_chunks():
    m = Metrics(eval_count=2)
    merged = wire.merge_chunks([Chunk(content="a"), Chunk(content="b"), Chunk(done=True, done_reason="length", metrics=m)])
    assert (merged.content, merged.done_reason, merged.metrics) == ("ab", "length", m)


def test_parameters_text_is_gos_format():
    text = wire.parameters_text({"stop": ["<|im_end|>", "x"], "temperature": 0.7, "num_ctx": 4096})
    assert text.splitlines() == [
        'stop                           "<|im_end|>"',
        'stop                           "x"',
        "temperature                    0.7",
        "num_ctx                        4096",
    ]


def test_progress_and_client_side_parsing():
    assert wire.progress(Progress("pulling abc", "sha256:x", 10, 0)) == {"status": "pulling abc", "digest": "sha256:x", "total": 10}
    assert wire.progress_from_wire({"status": "success"}) == Progress("success")
    line = wire.chat_chunk("m", Chunk(done=True, done_reason="stop", metrics=Metrics(eval_count=3)), "T")
    back = wire.chunk_from_wire(line)
    assert back.done and back.done_reason == "stop" and back.metrics.eval_count == 3
    assert wire.chunk_from_wire(wire.generate_chunk("m", Chunk(content="hi"), "T")).content == "hi"


def test_forever_shows_a_far_future_year():
    assert int(wire.local_time(math.inf)[:4]) > 2300

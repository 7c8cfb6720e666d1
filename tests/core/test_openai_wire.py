"""Golden JSON for the OpenAI translators (core/openai.py): requests in, scripted native chunks out."""

from __future__ import annotations

import base64
import struct
from array import array
from types import SimpleNamespace

import pytest

from mullama_jupyter.core import openai as wire
from mullama_jupyter.core.errors import InvalidRequest
from mullama_jupyter.core.native import Chunk, EmbedResult, Message, Metrics, TokenLogprob, ToolCall

PNG = base64.b64encode(b"\x89PNG fake").decode()
METRICS = Metrics(prompt_eval_count=7, eval_count=5)


def chat(**body):
    return wire.parse_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}], **body})


# ----------------------------------------------------------------------------- requests


def test_a_full_chat_request_becomes_the_native_request():
    p = wire.parse_chat({
        "model": "m",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
            {"role": "assistant", "content": None, "reasoning": "look it up",
             "tool_calls": [{"id": "call_1", "type": "function",
                             "function": {"name": "lookup", "arguments": '{"q": "png"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "an image"},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"},
                                                                   "strict": True}},
        "reasoning_effort": "minimal",
        "temperature": 0, "top_p": 0.5, "seed": 3, "stop": "END", "max_completion_tokens": 9, "max_tokens": 99,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "user": "ignored",
        "logprobs": True, "top_logprobs": 2,
        "stream": True, "stream_options": {"include_usage": True},
        "keep_alive": "1m", "options": {"num_ctx": 512, "temperature": 0.7},
    })
    r = p.request
    assert (p.stream, p.include_usage, p.logprobs, p.echo) == (True, True, True, "")
    assert r.messages == [
        Message("system", "Be brief."),
        Message("user", "What is this?", images=[PNG]),
        Message("assistant", "", thinking="look it up", tool_calls=[ToolCall("lookup", {"q": "png"}, id="call_1")]),
        Message("tool", "an image", tool_name="lookup"),
    ]
    assert r.tools == [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    assert r.tool_choice == {"name": "lookup"}
    assert r.format == {"type": "object"}
    assert r.think == "low"
    assert r.options == {"num_ctx": 512, "temperature": 0.0, "top_p": 0.5, "seed": 3, "presence_penalty": 0.1,
                         "frequency_penalty": 0.2, "num_predict": 9, "stop": ["END"]}
    assert r.logprobs == 2 and r.keep_alive == 60


def test_chat_defaults_follow_ollamas_compat_layer():
    p = chat()
    r = p.request
    assert r.options == {"temperature": 1.0, "top_p": 1.0}
    assert (r.format, r.think, r.logprobs, r.tool_choice, r.tools) == (None, None, None, "auto", [])
    assert (p.stream, p.include_usage, p.logprobs) == (False, False, False)
    assert chat(stream_options={"include_usage": True}).include_usage is False  # only streams get a usage chunk
    assert chat(logprobs=True).request.logprobs == 0


@pytest.mark.parametrize("fmt, native", [
    ({"type": "text"}, None), ({"type": "json_object"}, "json"),
    ({"type": "json_schema", "json_schema": {"name": "x"}}, {"type": "object"}),
])
def test_response_formats(fmt, native):
    assert chat(response_format=fmt).request.format == native


@pytest.mark.parametrize("effort, think", [
    ("none", False), ("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"),
    ("xhigh", "high"), ("max", "high"),
])
def test_reasoning_effort_maps_onto_think(effort, think):
    assert chat(reasoning_effort=effort).request.think == think
    assert chat(reasoning={"effort": effort}).request.think == think


@pytest.mark.parametrize("choice, native", [
    ("auto", "auto"), ("none", "none"), ("required", "required"),
    ({"type": "function", "function": {"name": "f"}}, {"name": "f"}),
])
def test_tool_choice(choice, native):
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert chat(tools=tools, tool_choice=choice).request.tool_choice == native


def test_a_tool_result_without_a_known_call_id_keeps_its_name():
    tool = {"role": "tool", "tool_call_id": "zzz", "name": "f", "content": "1"}
    p = wire.parse_chat({"model": "m", "messages": [tool]})
    assert p.request.messages == [Message("tool", "1", tool_name="f")]


BAD_CHAT = [
    ({"messages": []}, "[] is too short - 'messages'"),
    ({"model": ""}, '"model" is required'),
    ({"n": 2}, 'invalid value for "n": 2 (only one choice per request is supported)'),
    ({"temperature": "hot"}, '"temperature" must be of type float32'),
    ({"temperature": -1}, '"temperature" is out of range: -1.0 (allowed 0..10000)'),
    ({"max_tokens": 0}, 'invalid value for "max_tokens": 0 (must be at least 1)'),
    ({"stop": [1]}, 'invalid value for "stop": expected a string or an array of strings, got an array'),
    ({"top_logprobs": 2}, '"top_logprobs" needs "logprobs": true'),
    ({"logprobs": True, "top_logprobs": 21}, 'invalid value for "top_logprobs": 21 (must be between 0 and 20)'),
    ({"reasoning_effort": "huge"},
     'invalid value for "reasoning_effort": "huge" (must be one of none, minimal, low, medium, high, xhigh, max)'),
    ({"reasoning": {"effort": ["high"]}},
     'invalid value for "reasoning.effort": ["high"] (must be one of none, minimal, low, medium, high, xhigh, max)'),
    ({"response_format": {"type": "xml"}},
     'invalid value for "response_format.type": "xml" (must be "text", "json_object" or "json_schema")'),
    ({"tool_choice": "always"}, 'invalid value for "tool_choice": must be "auto", "none", "required" or '
                                '{"type": "function", "function": {"name": ...}}'),
    ({"tools": [{"type": "web_search"}]},
     'invalid value for "tools[0]": only function tools are supported, not "web_search"'),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
     wire.IMAGE_URL_ERROR),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png;base64,@@"}]}]},
     'invalid value for "messages[0].content[0].image_url.url": the base64 data does not decode'),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
     'invalid value for "messages[0].content[0]": content parts of type "input_audio" are not supported '
     '(use "text" or "image_url")'),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]},
     'invalid value for "messages[0].tool_calls[0].function.arguments": not valid JSON'),
    ({"messages": [{"role": "function", "content": "x"}]},
     'invalid value for "messages[0].role": "function" (must be "system", "developer", "user", "assistant" or "tool")'),
]


@pytest.mark.parametrize("patch, message", BAD_CHAT)
def test_bad_chat_requests_are_400s_naming_the_field(patch, message):
    with pytest.raises(InvalidRequest) as e:
        wire.parse_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}], **patch})
    assert e.value.message == message and e.value.status == 400


def test_completion_requests():
    p = wire.parse_completion({"model": "m", "prompt": ["Once"], "max_tokens": 4, "logprobs": 3, "suffix": "end",
                               "stream": True})
    assert p.request.messages == [Message("user", "Once")]
    assert (p.request.suffix, p.request.logprobs, p.request.options["num_predict"]) == ("end", 3, 4)
    assert (p.stream, p.logprobs, p.echo) == (True, True, "")
    assert wire.parse_completion({"model": "m", "prompt": "Once", "echo": True}).echo == "Once"
    for body, message in [
        ({"prompt": [1, 2]}, 'invalid value for "prompt": expected a string (token arrays are not supported)'),
        ({"prompt": ["a", "b"]}, 'invalid value for "prompt": only one prompt per request is supported'),
        ({"prompt": "a", "echo": True, "logprobs": 1},
         '"echo" with "logprobs" is not supported: prompt tokens have no log probabilities here'),
        ({"prompt": "a", "best_of": 3}, 'invalid value for "best_of": 3 (only 1 is supported)'),
    ]:
        with pytest.raises(InvalidRequest) as e:
            wire.parse_completion({"model": "m", **body})
        assert e.value.message == message


def test_embedding_requests():
    req, enc = wire.parse_embeddings({"model": "e", "input": "a", "dimensions": 8, "encoding_format": "base64"})
    assert (req.inputs, req.dimensions, req.normalize, enc) == (["a"], 8, True, "base64")
    assert wire.parse_embeddings({"model": "e", "input": ["a", "b"]})[0].inputs == ["a", "b"]
    assert wire.parse_embeddings({"model": "e", "input": "a"})[1] == "float"
    for body, message in [
        ({"input": [1, 2, 3]}, 'invalid value for "input": token arrays are not supported, send text'),
        ({"input": [[1, 2]]}, 'invalid value for "input": token arrays are not supported, send text'),
        ({"input": []}, 'invalid value for "input": the array is empty'),
        ({}, '"input" is required'),
        ({"input": "a", "encoding_format": "int8"},
         'invalid value for "encoding_format": "int8" (must be "float" or "base64")'),
        ({"input": "a", "dimensions": 0}, 'invalid value for "dimensions": 0 (must be at least 1)'),
    ]:
        with pytest.raises(InvalidRequest) as e:
            wire.parse_embeddings({"model": "e", **body})
        assert e.value.message == message


# ----------------------------------------------------------------------------- responses


def encoder(cls=wire.ChatEncoder, **parsed):
    p = wire.Parsed(wire.CompletionRequest("m"), **parsed)
    return cls("m", p, id="chatcmpl-1" if cls is wire.ChatEncoder else "cmpl-1", created=1700000000)


HEAD = {"id": "chatcmpl-1", "created": 1700000000, "model": "m", "system_fingerprint": "fp_ollama"}
SCRIPT = [
    Chunk(thinking="Let me think."),
    Chunk(content="Calling."),
    Chunk(tool_calls=[ToolCall("f", {"x": 1}, id="call_a"), ToolCall("g", {}, id="call_b", index=1)]),
    Chunk(tool_calls=[ToolCall("h", {"y": "é"}, id="call_c")]),
    Chunk(done=True, done_reason="stop", metrics=METRICS),
]
USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


def test_a_chat_completion_with_thinking_and_tool_calls():
    assert encoder().complete(SCRIPT) == {
        **HEAD, "object": "chat.completion",
        "choices": [{"index": 0, "message": {
            "role": "assistant", "content": "Calling.", "reasoning": "Let me think.",
            "reasoning_content": "Let me think.",
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
                {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                {"id": "call_c", "type": "function", "function": {"name": "h", "arguments": '{"y": "é"}'}},
            ]}, "logprobs": None, "finish_reason": "tool_calls"}],
        "usage": USAGE,
    }


def test_a_streamed_chat_with_thinking_tool_calls_and_usage():
    enc = encoder(include_usage=True, stream=True)
    events = [e for c in SCRIPT for e in enc.stream(c)]
    chunk = {**HEAD, "object": "chat.completion.chunk", "usage": None}

    def choice(delta, finish=None):
        return {**chunk, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    assert events == [
        choice({"role": "assistant", "content": "", "reasoning": "Let me think.",
                "reasoning_content": "Let me think."}),
        choice({"content": "Calling."}),
        choice({"content": "", "tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
            {"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
        choice({"content": "", "tool_calls": [
            {"index": 2, "id": "call_c", "type": "function", "function": {"name": "h", "arguments": '{"y": "é"}'}}]}),
        choice({}, "tool_calls"),
        {**HEAD, "object": "chat.completion.chunk", "choices": [], "usage": USAGE},
    ]
    text = wire.sse(events[-1:])
    assert text.startswith('data: {"id":"chatcmpl-1",') and text.endswith("}\n\n") and "\n" not in text[:-2]


def test_a_chat_cut_off_by_length_and_an_empty_stream():
    chunks = [Chunk(content="Hello"), Chunk(content=" there"), Chunk(done=True, done_reason="length", metrics=METRICS)]
    done = encoder().complete(chunks)
    assert done["choices"][0] == {"index": 0, "message": {"role": "assistant", "content": "Hello there"},
                                  "logprobs": None, "finish_reason": "length"}
    events = encoder().stream(Chunk(done=True, done_reason="stop", metrics=METRICS))
    assert [e["choices"][0]["delta"] for e in events] == [{"role": "assistant", "content": ""}, {}]
    assert [e["choices"][0]["finish_reason"] for e in events] == [None, "stop"]
    assert all("usage" not in e for e in events)


LOGPROBS = [TokenLogprob("Hi", -0.5, [72, 105], [("Hi", -0.5), ("Yo", -1.5)]), TokenLogprob("!", -0.25)]


def test_chat_logprobs():
    chunks = [Chunk(content="Hi!", logprobs=LOGPROBS), Chunk(done=True, done_reason="stop", metrics=METRICS)]
    expected = {"content": [
        {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": [
            {"token": "Hi", "logprob": -0.5, "bytes": [72, 105]},
            {"token": "Yo", "logprob": -1.5, "bytes": [89, 111]}]},
        {"token": "!", "logprob": -0.25, "bytes": [33], "top_logprobs": []},
    ], "refusal": None}
    assert encoder(logprobs=True).complete(chunks)["choices"][0]["logprobs"] == expected
    assert encoder(logprobs=True).stream(chunks[0])[0]["choices"][0]["logprobs"] == expected


def test_text_completions_echo_and_legacy_logprobs():
    chunks = [Chunk(content="Hi", logprobs=LOGPROBS[:1]), Chunk(content="!", logprobs=LOGPROBS[1:]),
              Chunk(done=True, done_reason="length", metrics=METRICS)]
    head = {"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "m",
            "system_fingerprint": "fp_ollama"}
    assert encoder(wire.TextEncoder, echo="Say: ").complete(chunks) == {
        **head, "choices": [{"text": "Say: Hi!", "index": 0, "logprobs": None, "finish_reason": "length"}],
        "usage": USAGE}
    enc = encoder(wire.TextEncoder, logprobs=True)
    assert [e["choices"] for c in chunks for e in enc.stream(c)] == [
        [{"text": "Hi", "index": 0, "finish_reason": None, "logprobs": {
            "tokens": ["Hi"], "token_logprobs": [-0.5], "top_logprobs": [{"Hi": -0.5, "Yo": -1.5}],
            "text_offset": [0]}}],
        [{"text": "!", "index": 0, "finish_reason": None, "logprobs": {
            "tokens": ["!"], "token_logprobs": [-0.25], "top_logprobs": [{}], "text_offset": [2]}}],
        [{"text": "", "index": 0, "logprobs": None, "finish_reason": "length"}],
    ]
    echoed = encoder(wire.TextEncoder, echo="Say: ", stream=True, include_usage=True)
    events = [e for c in chunks for e in echoed.stream(c)]
    assert [e["choices"][0]["text"] if e["choices"] else e["usage"] for e in events] == ["Say: Hi", "!", "", USAGE]


def test_embeddings_as_floats_and_little_endian_base64():
    result = EmbedResult([[0.5, -1.0], [0.25, 2.0]], prompt_eval_count=4)
    floats = wire.embeddings_response("e", result, "float")
    assert floats == {"object": "list", "model": "e", "usage": {"prompt_tokens": 4, "total_tokens": 4}, "data": [
        {"object": "embedding", "embedding": [0.5, -1.0], "index": 0},
        {"object": "embedding", "embedding": [0.25, 2.0], "index": 1}]}
    b64 = wire.embeddings_response("e", result, "base64")["data"][0]["embedding"]
    assert base64.b64decode(b64) == struct.pack("<2f", 0.5, -1.0)
    assert array("f", base64.b64decode(b64)).tolist() == [0.5, -1.0]  # how the SDK decodes it without numpy


def test_errors_models_and_events():
    assert wire.error_body(404, "model 'x' not found") == {"error": {
        "message": "model 'x' not found", "type": "not_found_error", "param": None, "code": "model_not_found"}}
    assert [wire.error_body(s, "m")["error"]["type"] for s in (400, 401, 403, 500, 503)] == [
        "invalid_request_error", "authentication_error", "permission_error", "api_error", "api_error"]
    assert wire.error_body(503, "busy")["error"]["code"] == "server_busy"
    assert wire.sse([wire.error_body(500, "boom")]) == \
        'data: {"error":{"message":"boom","type":"api_error","param":null,"code":null}}\n\n'
    name = SimpleNamespace(display="team/m:v1", namespace="team")
    record = SimpleNamespace(name=name, modified_at=1700000000.7)
    assert wire.models_list([record]) == {"object": "list", "data": [
        {"id": "team/m:v1", "object": "model", "created": 1700000000, "owned_by": "team"}]}
    assert wire.model_object(record, "team/m:v1")["id"] == "team/m:v1"
    assert wire.DONE == "data: [DONE]\n\n"

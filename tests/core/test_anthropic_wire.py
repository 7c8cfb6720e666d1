"""The Anthropic Messages translators, as golden JSON: request bodies in, native requests out; native
chunks in, stream events and Message objects out."""

from __future__ import annotations

import json

import pytest

from mullama_jupyter.core import anthropic as wire
from mullama_jupyter.core.errors import InvalidRequest
from mullama_jupyter.core.native import Chunk, CompletionRequest, Message, Metrics, ToolCall

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
NATIVE_WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"],
                                                   "description": "Weather for a city"}}
PNG = "iVBORw0KGgo="


def parse(**body):
    return wire.parse_messages({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}],
                                **body})


# ----------------------------------------------------------------------------- requests


def test_a_full_request_becomes_one_native_request():
    parsed = wire.parse_messages({
        "model": "smollm2:135m", "max_tokens": 64, "stream": True, "metadata": {"user_id": "u1"},
        "system": [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Use French."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                      "data": PNG}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "They want weather.", "signature": "abc"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
                {"type": "text", "text": "And tomorrow?"}]},
        ],
        "temperature": 0, "top_p": 0.9, "top_k": 20, "stop_sequences": ["\n\n", ""],
        "tools": [WEATHER], "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    })
    assert parsed.stream is True
    assert parsed.request == CompletionRequest(
        model="smollm2:135m",
        messages=[
            Message("system", "Be terse.\nUse French."),
            Message("user", "Look:", images=[PNG]),
            Message("assistant", "Checking.", thinking="They want weather.",
                    tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_1")]),
            Message("tool", "18C", tool_name="get_weather"),
            Message("user", "And tomorrow?"),
        ],
        tools=[NATIVE_WEATHER], tool_choice="auto",
        options={"num_predict": 64, "temperature": 0.0, "top_p": 0.9, "top_k": 20, "stop": ["\n\n"]},
        think="low",
    )


def test_the_smallest_request_leaves_the_model_defaults_alone():
    parsed = parse()
    assert parsed.stream is False
    assert parsed.request == CompletionRequest(model="m", messages=[Message("user", "hi")],
                                               options={"num_predict": 16})


@pytest.mark.parametrize("choice, native", [
    ({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none"),
    ({"type": "tool", "name": "get_weather"}, {"name": "get_weather"}),
    ({"type": "any", "disable_parallel_tool_use": True}, "required"),
])
def test_tool_choice(choice, native):
    assert parse(tools=[WEATHER], tool_choice=choice).request.tool_choice == native


@pytest.mark.parametrize("thinking, think", [
    ({"type": "enabled", "budget_tokens": 1024}, "low"), ({"type": "enabled", "budget_tokens": 4096}, "medium"),
    ({"type": "enabled", "budget_tokens": 16384}, "high"), ({"type": "disabled"}, False),
    ({"type": "adaptive"}, True),
])
def test_thinking_budget_becomes_a_level(thinking, think):
    assert parse(thinking=thinking).request.think == think


def test_adaptive_thinking_takes_its_level_from_the_effort():
    assert parse(thinking={"type": "adaptive"}, output_config={"effort": "max"}).request.think == "high"


def test_structured_output_becomes_the_native_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert parse(output_config={"format": {"type": "json_schema", "schema": schema}}).request.format == schema


def test_tool_results_come_first_and_carry_errors_and_names():
    msgs = parse(messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "no such city", "is_error": True}]},
    ]).request.messages
    assert msgs[1].tool_calls == [ToolCall("get_weather", {"city": "Paris"}, id="toolu_a"),
                                  ToolCall("get_time", {}, id="toolu_b", index=1)]
    assert msgs[2:] == [Message("tool", "18C", tool_name="get_weather"),
                        Message("tool", "Error: no such city", tool_name="get_time")]


def _unknown_result():
    return [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}]


@pytest.mark.parametrize("body, message", [
    ({"max_tokens": None}, "max_tokens: Field required"),
    ({"max_tokens": "8"}, "max_tokens: Input should be a valid integer"),
    ({"max_tokens": True}, "max_tokens: Input should be a valid integer"),
    ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
    ({"model": None}, "model: Field required"),
    ({"model": ""}, "model: Field required"),
    ({"model": 3}, "model: Input should be a valid string"),
    ({"messages": None}, "messages: Field required"),
    ({"messages": "hi"}, "messages: Input should be a valid list"),
    ({"messages": []}, "messages: at least one message is required"),
    ({"messages": ["hi"]}, "messages.0: Input should be a valid dictionary"),
    ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role: Input should be 'user' or 'assistant'"),
    ({"messages": [{"role": "user"}]}, "messages.0.content: Field required"),
    ({"messages": [{"role": "user", "content": 5}]},
     "messages.0.content: Input should be a valid string or a list of content blocks"),
    ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
     'messages.0.content.0.type: content blocks of type "document" are not supported '
     "(use text, image, tool_use, tool_result or thinking)"),
    ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages.0.content.0.type: Field required"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages.0.content.0.text: Field required"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url",
                                                                              "url": "https://x/y.png"}}]}]},
     'messages.0.content.0.source: image URLs are not supported, send the image as base64 data '
     '(source type "base64")'),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "!!"}}]}]},
     "messages.0.content.0.source.data: the base64 data does not decode"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
     "messages.0.content.0.source.type: Input should be 'base64'"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]},
     "messages.0.content.0: tool_use blocks belong in assistant turns"),
    ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": 1}]}]},
     "messages.0.content.0.input: Input should be a valid dictionary"),
    ({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]},
     "messages.0.content.0.id: Field required"),
    ({"messages": [{"role": "user", "content": [{"type": "thinking", "thinking": "x"}]}]},
     "messages.0.content.0: thinking blocks belong in assistant turns"),
    ({"messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]},
     "messages.0.content.0: tool_result blocks belong in user turns"),
    ({"messages": _unknown_result()},
     'messages.0.content.0.tool_use_id: no earlier tool_use block has the id "toolu_x"'),
    ({"system": 1}, "system: Input should be a valid string or a list of text blocks"),
    ({"system": [{"type": "image"}]}, "system.0: Input should be a text block"),
    ({"temperature": "hot"}, "temperature: must be of type float32"),
    ({"top_k": "many"}, "top_k: must be of type integer"),
    ({"stop_sequences": "END"}, "stop_sequences: Input should be a valid list of strings"),
    ({"stream": "yes"}, "stream: Input should be a valid boolean"),
    ({"tools": {}}, "tools: Input should be a valid list"),
    ({"tools": [{"name": "f"}]}, "tools.0.input_schema: Field required"),
    ({"tools": [{"input_schema": {}}]}, "tools.0.name: Field required"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
     'tools.0.type: server tools ("web_search_20250305") are not supported, only custom tools with an input_schema'),
    ({"tool_choice": "any"}, "tool_choice: Input should be a valid dictionary"),
    ({"tool_choice": {"type": "function"}}, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"),
    ({"tool_choice": {"type": "tool"}}, "tool_choice.name: Field required"),
    ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens: Field required"),
    ({"thinking": {"type": "on"}}, "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'"),
    ({"output_config": {"format": {"type": "json_object"}}},
     "output_config.format.type: Input should be 'json_schema'"),
])
def test_every_bad_field_is_a_400_naming_it(body, message):
    full = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], **body}
    with pytest.raises(InvalidRequest) as e:
        wire.parse_messages({k: v for k, v in full.items() if v is not None})
    assert e.value.message == message and e.value.status == 400


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("status, kind", [
    (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
    (404, "not_found_error"), (429, "rate_limit_error"), (500, "api_error"), (503, "overloaded_error"),
])
def test_error_envelope(status, kind):
    assert wire.error_body(status, "nope") == {"type": "error", "error": {"type": kind, "message": "nope"}}


def test_a_mid_stream_error_is_an_error_event():
    assert wire.sse([wire.error_body(500, "model runner terminated unexpectedly")]) == (
        'event: error\ndata: {"type":"error","error":{"type":"api_error",'
        '"message":"model runner terminated unexpectedly"}}\n\n')


# ----------------------------------------------------------------------------- responses


def done(reason="stop", sequence=None, prompt=7, output=5):
    return Chunk(done=True, done_reason=reason, stop_sequence=sequence,
                 metrics=Metrics(prompt_eval_count=prompt, eval_count=output))


START = {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
    "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}}


def events(chunks):
    enc = wire.MessageEncoder("m", id="msg_1")
    return [e for c in chunks for e in enc.events(c)]


def test_plain_text_stream_is_the_full_event_sequence():
    assert events([Chunk(content="Hello"), Chunk(content=" there"), done()]) == [
        START, {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"input_tokens": 7, "output_tokens": 5}},
        {"type": "message_stop"},
    ]


SCRIPT = [
    Chunk(thinking="Need "), Chunk(thinking="weather.", content="Let me"), Chunk(content=" check. "),
    Chunk(tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_a")]),
    Chunk(content=" "),  # stray whitespace between calls: no block of its own
    Chunk(tool_calls=[ToolCall("get_weather", {"city": "Rome"}, id="toolu_b")]),
    done(),
]


def test_thinking_text_and_tool_calls_switch_blocks():
    sig = wire.signature("Need weather.")
    assert events(SCRIPT)[2:] == [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                      "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Need "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "weather."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": sig}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Let me"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " check. "}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_a",
                                                                      "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
                                                              "partial_json": '{"city":"Paris"}'}},
        {"type": "content_block_stop", "index": 2},
        {"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "toolu_b",
                                                                      "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta",
                                                              "partial_json": '{"city":"Rome"}'}},
        {"type": "content_block_stop", "index": 3},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"input_tokens": 7, "output_tokens": 5}},
        {"type": "message_stop"},
    ]


def test_the_whole_message_folds_the_same_events():
    assert wire.MessageEncoder("m", id="msg_1").complete(SCRIPT) == {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [
            {"type": "thinking", "thinking": "Need weather.", "signature": wire.signature("Need weather.")},
            {"type": "text", "text": "Let me check. "},
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}},
        ],
        "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 5},
    }


def test_leading_whitespace_is_kept_once_text_follows():
    msg = wire.MessageEncoder("m").complete([Chunk(content="\n"), Chunk(content=" Hi"), done()])
    assert msg["content"] == [{"type": "text", "text": "\n Hi"}]


def test_native_call_ids_become_tool_use_ids():
    msg = wire.MessageEncoder("m").complete([Chunk(tool_calls=[ToolCall("f", {}, id="call_abc12345")]), done()])
    (block,) = msg["content"]
    assert block["id"].startswith("toolu_01") and len(block["id"]) == 30 and block["input"] == {}


@pytest.mark.parametrize("final, reason, sequence", [
    (done("stop"), "end_turn", None), (done("length"), "max_tokens", None),
    (done("stop", "END"), "stop_sequence", "END"),
])
def test_stop_reasons(final, reason, sequence):
    msg = wire.MessageEncoder("m").complete([Chunk(content="a"), final])
    assert (msg["stop_reason"], msg["stop_sequence"]) == (reason, sequence)


def test_an_empty_answer_has_no_blocks():
    msg = wire.MessageEncoder("m", id="msg_1").complete([done(output=0)])
    assert msg["content"] == [] and msg["stop_reason"] == "end_turn"
    assert msg["id"].startswith("msg_") and json.dumps(msg)

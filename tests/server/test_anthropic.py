"""The Anthropic Messages API with the real `anthropic` SDK: against `mullama serve` with the real model
(sync client), inside a real Jupyter server (async client, token as x-api-key), and against an
echo-engine server with an API key, whose scripted output exercises thinking, text and tool-call
blocks event by event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import anthropic
import pytest

from tests.conftest import MODEL, SCRIPTED_KEY, http_call

pytestmark = pytest.mark.model

WEATHER = {"name": "get_weather", "description": "Current weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                            "required": ["city"]}}
HI = [{"role": "user", "content": "Name a color."}]
KEY = SCRIPTED_KEY
# SDK 2.x no longer has sampling parameters of its own; the server still reads them.
GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def client(standalone: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=standalone, api_key="x", max_retries=0) as c:
        yield c


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, raw = http_call(url, "POST", data, {"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(raw)


# ----------------------------------------------------------------------------- the real model, standalone


def test_a_message_with_the_real_model(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=16, system="You are terse.", messages=HI,
                                 extra_body={"temperature": 0, "top_k": 40, "top_p": 0.9},
                                 metadata={"user_id": "u1"})
    assert msg.type == "message" and msg.role == "assistant" and msg.model == MODEL and msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text.strip()
    assert msg.stop_reason in ("end_turn", "max_tokens") and msg.stop_sequence is None
    assert msg.usage.input_tokens > 5 and 0 < msg.usage.output_tokens <= 16


def test_max_tokens_is_the_stop_reason_when_it_cuts(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=3, extra_body=GREEDY,
                                 messages=[{"role": "user", "content": "Write a long story about a dragon."}])
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 3


def test_streaming_text_and_the_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=12, extra_body=GREEDY, messages=HI) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text.strip() and [b.type for b in final.content] == ["text"] and final.content[0].text == text
    assert final.usage.input_tokens > 5 and final.usage.output_tokens > 0
    again = client.messages.create(model=MODEL, max_tokens=12, extra_body=GREEDY, messages=HI)
    assert again.content[0].text == text  # the stream and the whole answer agree


def test_the_raw_event_sequence(client: anthropic.Anthropic) -> None:
    events = list(client.messages.create(model=MODEL, max_tokens=8, extra_body=GREEDY, messages=HI, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"] and kinds[-3:] == [
        "content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert events[0].message.content == [] and events[0].message.usage.output_tokens == 0
    assert events[-2].usage.output_tokens <= 8 and events[-2].delta.stop_reason in ("end_turn", "max_tokens")


def test_stop_sequences_with_the_real_model(client: anthropic.Anthropic) -> None:
    ask = dict(model=MODEL, max_tokens=24, extra_body=GREEDY,
               messages=[{"role": "user", "content": "Count from one to ten in words."}])
    full = client.messages.create(**ask).content[0].text
    words = full.split()
    assert len(words) > 4, full
    stop = words[3]
    msg = client.messages.create(**ask, stop_sequences=[stop])
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", stop)
    assert msg.content[0].text == full[:full.index(stop)]


def test_a_forced_tool_call_then_the_answer_to_its_result(client: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    msg = client.messages.create(model=MODEL, max_tokens=48, extra_body=GREEDY, messages=ask, tools=[WEATHER],
                                 tool_choice={"type": "any"})
    assert msg.stop_reason == "tool_use"
    (call,) = msg.content
    assert call.type == "tool_use" and call.id.startswith("toolu_") and call.name == "get_weather"
    assert call.input in ({"city": "Paris"}, {"city": "Rome"})

    with client.messages.stream(model=MODEL, max_tokens=48, extra_body=GREEDY, messages=ask, tools=[WEATHER],
                                tool_choice={"type": "tool", "name": "get_weather",
                                             "disable_parallel_tool_use": True}) as s:
        events = list(s)
        final = s.get_final_message()
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert [d.type for d in deltas] == ["input_json_delta"] and json.loads(deltas[0].partial_json) == call.input
    assert final.stop_reason == "tool_use" and final.content[0].input == call.input

    follow = [*ask, {"role": "assistant", "content": msg.content},  # the SDK sends its own blocks back
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                            "content": [{"type": "text", "text": "Sunny, 24 degrees."}]}]}]
    answer = client.messages.create(model=MODEL, max_tokens=16, extra_body=GREEDY, messages=follow, tools=[WEATHER],
                                    tool_choice={"type": "none"})
    assert answer.stop_reason in ("end_turn", "max_tokens") and answer.content[0].text.strip()


def test_errors_are_sdk_exceptions_in_anthropics_envelope(client: anthropic.Anthropic, standalone: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model="missing", max_tokens=8, messages=HI)
    assert e.value.body == {"type": "error",
                            "error": {"type": "not_found_error", "message": "model 'missing' not found"}}
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=MODEL, max_tokens=0, messages=HI)
    assert e.value.body["error"]["message"] == "max_tokens: Input should be greater than or equal to 1"
    with pytest.raises(anthropic.BadRequestError, match="image URLs are not supported"):
        client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1:9/cat.png"}}]}])
    with pytest.raises(anthropic.BadRequestError, match="does not support tools"):  # "auto" needs a tool format
        client.messages.create(model=MODEL, max_tokens=8, messages=HI, tools=[WEATHER])
    with pytest.raises(anthropic.BadRequestError, match="does not support thinking"):
        client.messages.create(model=MODEL, max_tokens=2048, messages=HI,
                               thinking={"type": "enabled", "budget_tokens": 1024})

    assert post(standalone + "/v1/messages", {"model": MODEL, "messages": HI}) == (
        400, {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})
    status, body = post(standalone + "/v1/messages", b"{nope")
    assert status == 400 and body["type"] == "error" and body["error"]["message"].startswith("invalid JSON")


# ----------------------------------------------------------------------------- inside Jupyter


@pytest.fixture
def jp_server_config(model_store_dir: Path) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"mullama_jupyter": True}},
            "MullamaExtension": {"models_dir": str(model_store_dir)}}


async def test_the_async_sdk_under_jupyter_with_the_token_as_api_key(jp_serverapp, http_server_client,
                                                                    http_server_port, jp_base_url) -> None:
    base = f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url}mullama"  # the SDK appends /v1/messages
    token = jp_serverapp.identity_provider.token
    async with anthropic.AsyncAnthropic(base_url=base, api_key=token, max_retries=0) as c:
        msg = await c.messages.create(model=MODEL, max_tokens=8, extra_body=GREEDY, messages=HI)
        assert msg.content[0].type == "text" and msg.usage.output_tokens > 0
        async with c.messages.stream(model=MODEL, max_tokens=8, extra_body=GREEDY, messages=HI) as s:
            text = "".join([t async for t in s.text_stream])
            final = await s.get_final_message()
        assert text == final.content[0].text == msg.content[0].text
        with pytest.raises(anthropic.NotFoundError):
            await c.messages.create(model="missing", max_tokens=8, messages=HI)
    async with anthropic.AsyncAnthropic(base_url=base, api_key="wrong", max_retries=0) as bad:
        with pytest.raises(anthropic.PermissionDeniedError) as e:
            await bad.messages.create(model=MODEL, max_tokens=8, messages=HI)
    # Refused by the token check or, for a request that is not token-authenticated, by Jupyter's XSRF check.
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "permission_error"
    assert e.value.body["error"]["message"] in ("forbidden", "'_xsrf' argument missing from POST")


# ----------------------------------------------------------------------------- scripted, echo engine

SCRIPT = ('<think> weather needed </think> Let me check. '
          '<tool_call> {"name": "get_weather", "arguments": {"city": "Paris"}} </tool_call> '
          '<tool_call> {"name": "get_weather", "arguments": {"city": "Rome"}} </tool_call>')


@pytest.fixture(scope="module")
def echo(scripted_serve: str) -> str:
    return scripted_serve


@pytest.fixture(scope="module")
def scripted(echo: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=echo, api_key=KEY, max_retries=0) as c:
        yield c


def say(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_the_api_key_is_checked_with_anthropics_envelope(echo: str) -> None:
    refused = {"type": "error", "error": {"type": "authentication_error", "message": "unauthorized"}}
    with anthropic.Anthropic(base_url=echo, api_key="wrong", max_retries=0) as c:
        with pytest.raises(anthropic.AuthenticationError) as e:
            c.messages.create(model="thinker", max_tokens=8, messages=say("hi"))
    assert e.value.body == refused
    assert post(echo + "/v1/messages", {"model": "thinker", "max_tokens": 8, "messages": say("hi")}) == (401, refused)


def test_thinking_text_and_tool_calls_as_blocks(scripted: anthropic.Anthropic) -> None:
    msg = scripted.messages.create(model="thinker", max_tokens=200, messages=say(SCRIPT), tools=[WEATHER],
                                   thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, paris, rome = msg.content
    assert thinking.thinking.strip() == "weather needed" and thinking.signature
    assert text.text.strip() == "Let me check."
    assert (paris.name, paris.input, rome.input) == ("get_weather", {"city": "Paris"}, {"city": "Rome"})
    assert paris.id.startswith("toolu_") and paris.id != rome.id
    assert msg.stop_reason == "tool_use"

    hidden = scripted.messages.create(model="thinker", max_tokens=200, messages=say(SCRIPT), tools=[WEATHER],
                                      thinking={"type": "disabled"})
    assert [b.type for b in hidden.content] == ["text", "tool_use", "tool_use"]


def test_the_stream_switches_blocks_event_by_event(scripted: anthropic.Anthropic) -> None:
    with scripted.messages.stream(model="thinker", max_tokens=200, messages=say(SCRIPT), tools=[WEATHER]) as s:
        events = [e for e in s if e.type in ("message_start", "content_block_start", "content_block_delta",
                                             "content_block_stop", "message_delta", "message_stop")]
        final = s.get_final_message()

    def shape(e: Any) -> tuple[Any, ...]:
        if e.type == "content_block_start":
            return e.type, e.index, e.content_block.type
        if e.type == "content_block_delta":
            return e.type, e.index, e.delta.type
        if e.type == "content_block_stop":
            return e.type, e.index
        return (e.type,)

    collapsed = []  # runs of one delta kind folded to one entry
    for item in map(shape, events):
        if not collapsed or collapsed[-1] != item:
            collapsed.append(item)
    assert collapsed == [
        ("message_start",),
        ("content_block_start", 0, "thinking"), ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"), ("content_block_stop", 0),
        ("content_block_start", 1, "text"), ("content_block_delta", 1, "text_delta"), ("content_block_stop", 1),
        ("content_block_start", 2, "tool_use"), ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2),
        ("content_block_start", 3, "tool_use"), ("content_block_delta", 3, "input_json_delta"),
        ("content_block_stop", 3),
        ("message_delta",), ("message_stop",),
    ]
    assert events[-2].delta.stop_reason == "tool_use" and events[-2].usage.input_tokens == len(SCRIPT.split())
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert final.content[3].input == {"city": "Rome"}


def test_a_stop_sequence_is_reported(scripted: anthropic.Anthropic) -> None:
    msg = scripted.messages.create(model="thinker", max_tokens=50, messages=say("alpha beta END gamma"),
                                   stop_sequences=["END"])
    assert (msg.stop_reason, msg.stop_sequence, msg.content[0].text) == ("stop_sequence", "END", "alpha beta ")
    with scripted.messages.stream(model="thinker", max_tokens=50, messages=say("alpha beta END gamma"),
                                  stop_sequences=["END"]) as s:
        final = s.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "END")


def test_a_tool_result_turn_reaches_the_model(scripted: anthropic.Anthropic, echo: str) -> None:
    follow = [{"role": "user", "content": "weather?"},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                 "input": {"city": "Paris"}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                                           {"type": "text", "text": "thanks"}]}]
    msg = scripted.messages.create(model="thinker", max_tokens=50, messages=follow, tools=[WEATHER])
    assert msg.content[0].text.split() == ["weather?", "thanks"]  # the echo template shows user turns only
    status, body = post(echo + "/v1/messages", {"model": "thinker", "max_tokens": 8, "messages": follow[2:]},
                        {"x-api-key": KEY})
    assert (status, body["error"]["message"]) == (
        400, 'messages.0.content.0.tool_use_id: no earlier tool_use block has the id "toolu_1"')


def test_failures_before_and_during_a_stream(scripted: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as e:
        scripted.messages.create(model="thinker", max_tokens=8, messages=say("[[fail]] now"), stream=True)
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "api_error"
    with pytest.raises(anthropic.APIStatusError) as e:
        with scripted.messages.stream(model="thinker", max_tokens=8, messages=say("one two [[crash]] four")) as s:
            for _ in s.text_stream:
                pass
    assert e.value.body == {"type": "error", "error": {"type": "api_error",
                                                       "message": "model runner terminated unexpectedly"}}
    assert scripted.messages.create(model="thinker", max_tokens=8, messages=say("back again")).content[0].text

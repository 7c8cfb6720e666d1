"""The OpenAI-compatible routes driven by the real `openai` SDK: with the real model, sync against
`mullama serve` and async under a real Jupyter server (pytest-jupyter) behind its token; and against an
echo-engine server with an API key, whose scripted output exercises thinking and tool calls."""

from __future__ import annotations

import base64
import json
import math
from array import array

import jsonschema
import openai
import pytest

from tests.conftest import MODEL, SCRIPTED_KEY

pytestmark = pytest.mark.model

SAMPLING = {"temperature": 0, "seed": 1}
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "London"]}},
                   "required": ["city"]}}}]


@pytest.fixture(scope="module")
def client(standalone: str):
    with openai.OpenAI(base_url=standalone + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# ----------------------------------------------------------------------------- mullama serve


def test_models_list_retrieve_and_not_found(client: openai.OpenAI) -> None:
    (model,) = client.models.list().data
    assert (model.id, model.object, model.owned_by) == (MODEL, "model", "library") and model.created > 0
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("missing:1b")
    assert e.value.body == {"message": "model 'missing:1b' not found", "type": "not_found_error", "param": None,
                            "code": "model_not_found"}
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="missing", messages=ask("hi"))


def test_chat_completion(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "developer", "content": "Be brief."},
                                                              *ask("What is 2+2?")], max_tokens=16, **SAMPLING)
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion" and r.model == MODEL
    assert r.system_fingerprint == "fp_ollama"
    (choice,) = r.choices
    assert choice.message.role == "assistant" and choice.message.content and choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 16
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    cut = client.chat.completions.create(model=MODEL, messages=ask("Tell me a long story."), max_completion_tokens=3,
                                         **SAMPLING)
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=ask("Say hello."), max_tokens=12, stream=True,
                                                 stream_options={"include_usage": True}, **SAMPLING))
    *parts, finish, usage = chunks
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert parts[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in parts[1:])
    assert len([c for c in parts if c.choices[0].delta.content]) > 2
    assert finish.choices[0].finish_reason == "length" and all(c.choices[0].finish_reason is None for c in parts)
    assert usage.choices == [] and usage.usage.completion_tokens == 12
    text = "".join(c.choices[0].delta.content or "" for c in parts)
    whole = client.chat.completions.create(model=MODEL, messages=ask("Say hello."), max_tokens=12, **SAMPLING)
    assert text == whole.choices[0].message.content


def test_completions(client: openai.OpenAI) -> None:
    r = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, **SAMPLING)
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.choices[0].text
    assert r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens <= 8
    parts = list(client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, stream=True,
                                           echo=True, **SAMPLING))
    assert "".join(p.choices[0].text for p in parts) == "The capital of France is" + r.choices[0].text
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt="a", suffix="b", max_tokens=2)
    assert "does not support insert" in e.value.message


def test_embeddings_float_base64_and_dimensions(client: openai.OpenAI) -> None:
    default = client.embeddings.create(model=MODEL, input=["hello", "world"])  # the SDK asks for base64 and decodes it
    assert [d.index for d in default.data] == [0, 1] and default.usage.prompt_tokens > 0
    assert all(len(d.embedding) == 576 and math.isclose(sum(x * x for x in d.embedding), 1, rel_tol=1e-4)
               for d in default.data)
    floats = client.embeddings.create(model=MODEL, input=["hello", "world"], encoding_format="float")
    for f, d in zip(floats.data, default.data):
        assert f.embedding == pytest.approx(d.embedding, abs=1e-6)
    raw = client.embeddings.create(model=MODEL, input="hello", encoding_format="base64").data[0].embedding
    assert array("f", base64.b64decode(raw)).tolist() == pytest.approx(floats.data[0].embedding, abs=1e-6)
    small = client.embeddings.create(model=MODEL, input="hello", dimensions=64, encoding_format="float").data[0]
    assert len(small.embedding) == 64 and math.isclose(sum(x * x for x in small.embedding), 1, rel_tol=1e-4)
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model=MODEL, input=[[1, 2, 3]])
    assert e.value.body["message"] == 'invalid value for "input": token arrays are not supported, send text'


def test_json_object_and_json_schema(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=MODEL, messages=ask("Describe a color in JSON."), max_tokens=40,
                                       response_format={"type": "json_object"}, **SAMPLING)
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}
    r = client.chat.completions.create(
        model=MODEL, messages=ask("What is 2+2? Answer in JSON."), max_tokens=40, **SAMPLING,
        response_format={"type": "json_schema", "json_schema": {"name": "sum", "schema": schema, "strict": True}})
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)


def test_forced_tool_calls_plain_and_streamed(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=MODEL, messages=ask("What is the weather in Paris?"), tools=WEATHER,
                                       tool_choice="required", max_tokens=48, **SAMPLING)
    (call,) = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls" and call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] in ("Paris", "London")

    chunks = list(client.chat.completions.create(
        model=MODEL, messages=ask("What is the weather in Paris?"), tools=WEATHER, max_tokens=48, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, **SAMPLING))
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
    assert [(d.index, d.type, d.function.name) for d in deltas] == [(0, "function", "get_weather")]
    assert json.loads(deltas[0].function.arguments) == json.loads(call.function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    # The call and its result go back in; the result's tool_call_id names the call.
    followup = client.chat.completions.create(model=MODEL, max_tokens=8, **SAMPLING, messages=[
        *ask("What is the weather in Paris?"), r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 C"}])
    assert followup.choices[0].message.content


def test_logprobs(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=MODEL, messages=ask("Say hi."), max_tokens=4, logprobs=True,
                                       top_logprobs=2, **SAMPLING)
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == r.choices[0].message.content
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 and t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob
               for t in content)
    assert content[0].top_logprobs[0].token == content[0].token  # temperature 0 takes the likeliest token


def test_bad_requests_raise_bad_request_error_with_our_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=ask("hi"), n=2)
    assert e.value.body == {"message": 'invalid value for "n": 2 (only one choice per request is supported)',
                            "type": "invalid_request_error", "param": None, "code": None}
    with pytest.raises(openai.BadRequestError, match="does not support tools"):
        client.chat.completions.create(model=MODEL, messages=ask("hi"), tools=WEATHER)  # auto needs a tool format
    with pytest.raises(openai.BadRequestError, match="does not support thinking"):
        client.chat.completions.create(model=MODEL, messages=ask("hi"), reasoning_effort="high")


# ----------------------------------------------------------------------------- under Jupyter


@pytest.fixture
def jp_server_config(model_store_dir):
    return {"ServerApp": {"jpserver_extensions": {"mullama_jupyter": True}},
            "MullamaExtension": {"models_dir": str(model_store_dir)}}


@pytest.fixture
def jupyter_v1(jp_serverapp, http_server_client, http_server_port, jp_base_url):
    return f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url}mullama/v1"


async def test_the_async_sdk_under_jupyter(jp_serverapp, jupyter_v1) -> None:
    async with openai.AsyncOpenAI(base_url=jupyter_v1, api_key=jp_serverapp.identity_provider.token,
                                  max_retries=0) as c:
        assert [m.id async for m in c.models.list()] == [MODEL]
        with pytest.raises(openai.NotFoundError):
            await c.models.retrieve("missing")
        stream = await c.chat.completions.create(model=MODEL, messages=ask("Say hello."), max_tokens=8, stream=True,
                                                 stream_options={"include_usage": True}, **SAMPLING)
        chunks = [chunk async for chunk in stream]
        assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].usage.completion_tokens == 8
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        e = await c.embeddings.create(model=MODEL, input="hello")
        assert len(e.data[0].embedding) == 576
        with pytest.raises(openai.BadRequestError, match='invalid value for "n"'):
            await c.chat.completions.create(model=MODEL, messages=ask("hi"), n=3)


async def test_missing_or_wrong_token_under_jupyter(jupyter_v1) -> None:
    no_header = {"Authorization": openai.Omit()}  # the SDK insists on a key; this request sends none at all
    for key, headers in (("unused", no_header), ("wrong-token", None)):
        async with openai.AsyncOpenAI(base_url=jupyter_v1, api_key=key, max_retries=0) as c:
            with pytest.raises(openai.PermissionDeniedError) as e:
                await c.models.list(extra_headers=headers)
            assert e.value.status_code == 403
            assert e.value.body == {"message": "forbidden", "type": "permission_error", "param": None, "code": None}
            with pytest.raises(openai.PermissionDeniedError):
                await c.chat.completions.create(model=MODEL, messages=ask("hi"), extra_headers=headers)


# ----------------------------------------------------------------------------- scripted output (echo engine)

KEY = SCRIPTED_KEY
SCRIPT = ('<think> weather needed </think> Let me check. '
          '<tool_call> {"name": "get_weather", "arguments": {"city": "Paris"}} </tool_call> '
          '<tool_call> {"name": "get_weather", "arguments": {"city": "London"}} </tool_call>')


@pytest.fixture(scope="module")
def scripted(scripted_serve: str) -> str:
    return scripted_serve + "/v1"


def test_the_api_key_is_checked_with_openais_envelope(scripted: str) -> None:
    with openai.OpenAI(base_url=scripted, api_key="wrong", max_retries=0) as c, \
            pytest.raises(openai.AuthenticationError) as e:
        c.models.list()
    assert e.value.body == {"message": "unauthorized", "type": "authentication_error", "param": None,
                            "code": "invalid_api_key"}


def test_thinking_and_tool_calls_from_the_models_own_format(scripted: str) -> None:
    with openai.OpenAI(base_url=scripted, api_key=KEY, max_retries=0) as c:
        r = c.chat.completions.create(model="thinker", messages=ask(SCRIPT), tools=WEATHER, reasoning_effort="high")
        message = r.choices[0].message
        assert message.content.strip() == "Let me check."
        assert message.model_extra["reasoning"].strip() == "weather needed"
        assert message.model_extra["reasoning_content"] == message.model_extra["reasoning"]
        assert [json.loads(t.function.arguments)["city"] for t in message.tool_calls] == ["Paris", "London"]
        assert r.choices[0].finish_reason == "tool_calls" and message.tool_calls[0].id != message.tool_calls[1].id

        chunks = list(c.chat.completions.create(model="thinker", messages=ask(SCRIPT), tools=WEATHER, stream=True))
        deltas = [ch.choices[0].delta for ch in chunks]
        assert "".join(d.model_extra.get("reasoning", "") for d in deltas).strip() == "weather needed"
        calls = [t for d in deltas for t in d.tool_calls or []]
        assert [(t.index, t.function.name, json.loads(t.function.arguments)) for t in calls] == [
            (0, "get_weather", {"city": "Paris"}), (1, "get_weather", {"city": "London"})]
        assert chunks[-1].choices[0].finish_reason == "tool_calls"

        plain = c.chat.completions.create(model="thinker", messages=ask(SCRIPT), tools=WEATHER,
                                          reasoning_effort="none", tool_choice="none")
        assert "reasoning" not in plain.choices[0].message.model_extra
        assert plain.choices[0].finish_reason == "stop" and not plain.choices[0].message.tool_calls

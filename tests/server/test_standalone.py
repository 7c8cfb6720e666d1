"""`mullama serve` as a real process with the real model, driven by the real `ollama` client."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import ollama
import pytest

from tests.conftest import MODEL, free_port, http_call, mullama_cmd, stop_process, wait_http

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def client(standalone: str):
    with ollama.Client(host=standalone) as c:
        yield c


def test_root_and_version(standalone: str) -> None:
    with urllib.request.urlopen(standalone + "/") as r:
        assert r.read() == b"Ollama is running"
    with urllib.request.urlopen(standalone + "/api/version") as r:
        assert json.loads(r.read())["version"]


def test_list_and_show(client: ollama.Client) -> None:
    models = client.list().models
    assert [m.model for m in models] == [MODEL]
    m = models[0]
    assert m.size > 90_000_000 and len(m.digest) == 64
    assert m.details.family == "llama" and m.details.quantization_level == "Q4_1"
    assert m.details.parameter_size == "134.52M"
    info = client.show(MODEL)
    assert info.modelinfo["llama.context_length"] == 8192
    assert "<|im_start|>" in info.template
    assert info.capabilities == ["completion"]
    assert info.modelfile.startswith("# Modelfile generated")


def test_generate_streams_tokens_and_ends_with_metrics(client: ollama.Client) -> None:
    parts = list(client.generate(MODEL, "Say hello.", stream=True, options={"temperature": 0, "num_predict": 24}))
    assert len(parts) > 2 and all(not p.done for p in parts[:-1])
    text = "".join(p.response for p in parts)
    assert text.strip()
    final = parts[-1]
    assert final.done and final.done_reason in ("stop", "length")
    assert final.eval_count and final.eval_count <= 24
    assert final.prompt_eval_count and final.total_duration >= final.eval_duration > 0
    assert isinstance(final.context, list) and len(final.context) >= final.prompt_eval_count


def test_generate_without_streaming_is_one_object_and_deterministic_at_temperature_0(client: ollama.Client) -> None:
    a = client.generate(MODEL, "Name a color.", options={"temperature": 0, "num_predict": 16, "seed": 1})
    b = client.generate(MODEL, "Name a color.", options={"temperature": 0, "num_predict": 16, "seed": 1})
    assert a.done and a.response and a.response == b.response
    assert a.done_reason in ("stop", "length")


def test_chat(client: ollama.Client) -> None:
    r = client.chat(MODEL, messages=[{"role": "system", "content": "You are terse."},
                                     {"role": "user", "content": "What is the capital of France?"}],
                    options={"temperature": 0, "num_predict": 32})
    assert r.message.role == "assistant" and "Paris" in r.message.content
    stream = list(client.chat(MODEL, messages=[{"role": "user", "content": "Hi"}], stream=True,
                              options={"num_predict": 8}))
    assert stream[-1].done and stream[-1].message.content == ""


def test_log_probabilities_with_the_ollama_client(client: ollama.Client) -> None:
    r = client.chat(MODEL, messages=[{"role": "user", "content": "Hi"}], logprobs=True, top_logprobs=2,
                    options={"temperature": 0, "num_predict": 6})
    assert len(r.logprobs) == r.eval_count and "".join(e.token for e in r.logprobs) == r.message.content
    assert all(len(e.top_logprobs) == 2 and e.top_logprobs[0].token == e.token for e in r.logprobs)
    parts = list(client.generate(MODEL, "Hi", logprobs=True, stream=True, options={"num_predict": 6}))
    assert sum(len(p.logprobs or []) for p in parts) == parts[-1].eval_count
    with pytest.raises(ollama.ResponseError, match="top_logprobs must be between 0 and 20"):
        client.generate(MODEL, "Hi", logprobs=True, top_logprobs=21)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}}, "required": ["city"]}}}


def test_a_forced_tool_call_from_the_real_model(client: ollama.Client, standalone: str) -> None:
    # SmolLM2 has no tool format: auto tool use is refused, a required one is written under a grammar.
    with pytest.raises(ollama.ResponseError, match="does not support tools"):
        client.chat(MODEL, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER])
    body = {"model": MODEL, "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            "tools": [WEATHER], "tool_choice": "required", "stream": False,
            "options": {"temperature": 0, "num_predict": 48}}
    status, r = _post(standalone + "/api/chat", json.dumps(body).encode())
    assert status == 200, r
    [call] = r["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and isinstance(call["function"]["arguments"]["city"], str)
    assert call["id"].startswith("call_") and r["message"]["content"] == ""
    # Streamed, the call arrives whole in one line before the final one.
    req = urllib.request.Request(standalone + "/api/chat", data=json.dumps(
        {**body, "stream": True, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}).encode())
    with urllib.request.urlopen(req) as resp:
        lines = [json.loads(x) for x in resp.read().splitlines()]
    calls = [c for x in lines for c in x["message"].get("tool_calls", [])]
    assert [c["function"]["name"] for c in calls] == ["get_weather"] and lines[-1]["done"]
    status, r = _post(standalone + "/api/chat", json.dumps({**body, "tool_choice": {"name": "nope"}}).encode())
    assert (status, r) == (400, {"error": 'tool_choice names "nope", which is not among the tools'})


def test_embed(client: ollama.Client) -> None:
    r = client.embed(MODEL, input=["The cat sat.", "A feline was sitting.", "Stock markets fell."])
    assert len(r.embeddings) == 3 and len(r.embeddings[0]) == 576
    norms = [sum(x * x for x in v) for v in r.embeddings]
    assert all(abs(n - 1) < 1e-4 for n in norms)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    assert dot(r.embeddings[0], r.embeddings[1]) > dot(r.embeddings[0], r.embeddings[2])
    legacy = client.embeddings(MODEL, prompt="The cat sat.")
    assert len(legacy.embedding) == 576
    assert abs(sum(x * x for x in legacy.embedding) - 1) > 1e-3  # the legacy route is not normalised


def test_ps_and_keep_alive_zero_unloads(client: ollama.Client) -> None:
    client.generate(MODEL, "hi", options={"num_predict": 1})
    loaded = client.ps().models
    assert [m.model for m in loaded] == [MODEL]
    assert loaded[0].expires_at is not None and loaded[0].size >= 98_000_000
    r = client.generate(MODEL, "", keep_alive=0)
    assert r.done_reason == "unload"
    deadline = time.monotonic() + 5
    while client.ps().models and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.ps().models == []
    r = client.generate(MODEL, "")
    assert r.done_reason == "load"
    assert [m.model for m in client.ps().models] == [MODEL]


def test_copy_then_delete(client: ollama.Client) -> None:
    assert client.copy(MODEL, "my-copy:v1").status == "success"
    assert {m.model for m in client.list().models} == {MODEL, "my-copy:v1"}
    assert client.generate("my-copy:v1", "Hi", options={"num_predict": 2}).done
    assert client.delete("my-copy:v1").status == "success"
    assert [m.model for m in client.list().models] == [MODEL]
    assert client.generate(MODEL, "Hi", options={"num_predict": 2}).done  # the shared blob survived


def test_pull_the_bundled_model_again(client: ollama.Client) -> None:
    assert client.pull(MODEL).status == "success"
    steps = [p.status for p in client.pull(MODEL, stream=True)]
    assert steps[0] == "pulling manifest" and steps[-1] == "success"


@pytest.mark.parametrize("call", [
    lambda c: c.generate("nope:1b", "hi"),
    lambda c: c.chat("nope:1b", messages=[{"role": "user", "content": "hi"}]),
    lambda c: c.show("nope:1b"),
    lambda c: c.delete("nope:1b"),
])
def test_unknown_model_is_404_with_ollamas_text(client: ollama.Client, call) -> None:
    with pytest.raises(ollama.ResponseError) as e:
        call(client)
    assert e.value.status_code == 404
    assert e.value.error == "model 'nope:1b' not found"


def test_other_errors_have_ollamas_shapes(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as e:
        client.embed("nope", input="x")
    assert (e.value.status_code, e.value.error) == (404, 'model "nope" not found, try pulling it first')
    with pytest.raises(ollama.ResponseError) as e:
        client.copy("nope", "x")
    assert e.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(MODEL, "hi", options={"num_ctx": -1})
    assert e.value.status_code == 400 and 'option "num_ctx"' in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(MODEL, "hi", keep_alive="300")
    assert (e.value.status_code, e.value.error) == (400, 'time: missing unit in duration "300"')


def _post(url: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST") -> tuple[int, dict]:
    status, raw = http_call(url, method, body, headers)
    return status, json.loads(raw or b"{}")


def test_http_level_errors(standalone: str) -> None:
    assert _post(standalone + "/api/chat", b"") == (400, {"error": "missing request body"})
    status, body = _post(standalone + "/api/chat", b"{nope")
    assert status == 400 and body["error"].startswith("invalid JSON")
    assert _post(standalone + "/api/chat", b'{"model": ""}') == (400, {"error": "model is required"})
    assert _post(standalone + "/api/generate", b'{"model": ""}') == (404, {"error": "model '' not found"})
    assert _post(standalone + "/api/pull", b'{"model": "bad name!"}')[0] == 400
    assert _post(standalone + "/api/no-such-route", b"{}")[0] == 404


def test_errors_after_the_first_token_are_a_final_stream_line(standalone: str) -> None:
    # A prompt longer than the context fails before any token: a real status, not a stream line.
    long_prompt = "word " * 3000
    status, body = _post(standalone + "/api/generate",
                         json.dumps({"model": MODEL, "prompt": long_prompt, "options": {"num_ctx": 512}}).encode())
    assert status == 400
    assert "exceeds the context length" in body["error"] and "512" in body["error"]


def test_dns_rebinding_and_foreign_origins_are_refused(standalone: str) -> None:
    for host in ("evil.example", "evil.example:80", "attacker.com"):
        status, body = _post(standalone + "/api/tags", None, {"Host": host}, method="GET")
        assert status == 403, host
    assert _post(standalone + "/api/tags", None, {"Host": "localhost"}, method="GET")[0] == 200
    status, _ = _post(standalone + "/api/pull", b'{"model": "smollm2:135m"}',
                      {"Origin": "https://evil.example", "Content-Type": "text/plain"})
    assert status == 403
    status, _ = _post(standalone + "/api/tags", None, {"Origin": "http://localhost:3000"}, method="GET")
    assert status == 200


def test_client_disconnect_cancels_generation(client: ollama.Client, standalone: str) -> None:
    import http.client

    port = int(standalone.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/api/generate", json.dumps({"model": MODEL, "prompt": "Count to one thousand.",
                                                      "options": {"num_predict": 4000, "temperature": 0}}))
    resp = conn.getresponse()
    assert json.loads(resp.readline())["done"] is False
    conn.close()
    t0 = time.monotonic()
    r = client.generate(MODEL, "Hi", options={"num_predict": 4})
    assert r.done and time.monotonic() - t0 < 3.0  # not waiting for 4000 tokens


def test_api_key_and_public_bind(tiny_store, tmp_path) -> None:
    out = subprocess.run(mullama_cmd("serve", "--host", "0.0.0.0", "--port", str(free_port())),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "refusing to listen on 0.0.0.0 without an API key" in out.stderr and "Traceback" not in out.stderr

    port = free_port()
    env = {**os.environ, "MULLAMA_CACHE_DIR": str(tiny_store.root)}
    proc = subprocess.Popen(mullama_cmd("serve", "--port", str(port), "--api-key", "s3cret", "--engine", "echo"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/version", proc=proc)
        assert _post(url + "/api/tags", None, method="GET") == (401, {"error": "unauthorized"})
        assert _post(url + "/api/tags", None, {"Authorization": "Bearer wrong"}, method="GET")[0] == 401
        assert _post(url + "/api/tags", None, {"Authorization": "Bearer s3cret"}, method="GET")[0] == 200
        assert _post(url + "/api/tags", None, {"x-api-key": "s3cret"}, method="GET")[0] == 200
        with ollama.Client(host=url, headers={"Authorization": "Bearer s3cret"}) as c:
            assert c.generate("tiny", "alpha beta", raw=True).response == "alpha beta "
    finally:
        stop_process(proc)

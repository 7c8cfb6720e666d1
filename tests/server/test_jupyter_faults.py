"""Faults under Jupyter, with the echo engine in real runner processes: a runner that crashes or
fails, a full queue. The Jupyter server stays up and every answer has Ollama's shape."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config(tiny_store):
    return {
        "ServerApp": {"jpserver_extensions": {"mullama_jupyter": True}},
        "MullamaExtension": {"models_dir": str(tiny_store.root), "engine": "echo",
                             "engine_options": {"delay": 0.05}, "max_queue": 1},
    }


async def generate(jp_fetch, prompt, stream=True):
    return await jp_fetch("mullama", "api", "generate", method="POST", raise_error=False,
                          body=json.dumps({"model": "tiny", "prompt": prompt, "raw": True, "stream": stream}))


async def test_a_crash_mid_stream_ends_the_stream_with_an_error_line(jp_fetch):
    r = await generate(jp_fetch, "a b c d [[crash]] e")
    assert r.code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.body.decode().splitlines()]
    assert [x["response"] for x in lines[:-1]] == ["a ", "b "]
    assert lines[-1] == {"error": "model runner terminated unexpectedly"}
    assert (await jp_fetch("api", "status")).code == 200  # Jupyter itself is fine
    r = await generate(jp_fetch, "back again", stream=False)
    assert r.code == 200 and json.loads(r.body)["response"] == "back again "


async def test_errors_before_the_first_byte_get_a_real_status(jp_fetch):
    r = await generate(jp_fetch, "[[fail]]")
    assert (r.code, json.loads(r.body)) == (500, {"error": "echo engine told to fail"})
    r = await generate(jp_fetch, "x y z [[crash]]", stream=False)
    assert r.code == 500 and json.loads(r.body) == {"error": "model runner terminated unexpectedly"}


async def test_a_full_queue_answers_503_and_nothing_else_fails(jp_fetch):
    results = await asyncio.gather(*(generate(jp_fetch, "w " * 6, stream=False) for _ in range(6)))
    codes = sorted(r.code for r in results)
    assert set(codes) == {200, 503}
    for r in results:
        if r.code == 503:
            assert json.loads(r.body) == {"error": "server busy, please try again.  maximum pending requests exceeded"}


async def test_invalid_json_and_options(jp_fetch):
    r = await jp_fetch("mullama", "api", "chat", method="POST", body="{", raise_error=False)
    assert r.code == 400 and json.loads(r.body)["error"].startswith("invalid JSON")
    r = await jp_fetch("mullama", "api", "chat", method="POST", raise_error=False,
                       body=json.dumps({"model": "tiny", "messages": [], "options": {"num_ctx": 2**40}}))
    assert r.code == 400 and 'option "num_ctx" is out of range' in json.loads(r.body)["error"]
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("mullama", "api", "tags", method="POST", body="{}")
    assert e.value.code == 405


async def test_blob_uploads_stream_past_jupyters_body_limit_and_need_auth_first(jp_fetch, jp_serverapp, tiny_store):
    import hashlib

    size, chunk = 600 << 20, b"\0" * (1 << 20)
    digest = "sha256:" + hashlib.sha256(b"\0" * size).hexdigest()

    async def produce(write):
        for _ in range(size // len(chunk)):
            await write(chunk)

    r = await jp_fetch("mullama", "api", "blobs", digest, method="POST", body_producer=produce,
                       headers={"Content-Length": str(size)}, request_timeout=120)
    assert r.code == 201 and (tiny_store.root / "blobs" / digest.replace(":", "-")).stat().st_size == size

    sent = []

    async def produce_unauthenticated(write):
        for _ in range(64):
            sent.append(1)
            await write(chunk)

    with pytest.raises(Exception) as e:  # 403, or the server closing before the body is done
        await jp_fetch("mullama", "api", "blobs", "sha256:" + "0" * 64, method="POST",
                       body_producer=produce_unauthenticated, headers={"Authorization": "", "Content-Length": str(64 << 20)})
    # Refused once the headers were in: a 403, or the connection closed while the client still sent.
    assert getattr(e.value, "code", None) in (403, 599) and len(sent) < 64
    assert not [p for p in (tiny_store.root / "tmp").iterdir() if p.name.startswith("upload-")]

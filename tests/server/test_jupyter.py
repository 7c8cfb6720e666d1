"""The extension inside a real Jupyter server (pytest-jupyter), with the real model and the real
`ollama` client (async, on the server's own loop), below a non-root base_url."""

from __future__ import annotations

import json
import os
import warnings

import ollama
import pytest
from tornado.httpclient import HTTPClientError

from tests.conftest import MODEL

pytestmark = pytest.mark.model

ROUTES = [
    ("GET", "mullama"), ("GET", "mullama/api/version"), ("POST", "mullama/api/generate"), ("POST", "mullama/api/chat"),
    ("POST", "mullama/api/embed"), ("POST", "mullama/api/embeddings"), ("GET", "mullama/api/tags"),
    ("POST", "mullama/api/show"), ("POST", "mullama/api/copy"), ("DELETE", "mullama/api/delete"),
    ("POST", "mullama/api/pull"), ("GET", "mullama/api/ps"), ("HEAD", "mullama/api/tags"),
]


@pytest.fixture
def jp_server_config(fresh_store):
    return {
        "ServerApp": {"jpserver_extensions": {"mullama_jupyter": True}},
        "MullamaExtension": {"models_dir": str(fresh_store.root)},
    }


@pytest.fixture
def client(jp_serverapp, http_server_client, http_server_port, jp_base_url, jp_asyncio_loop):
    token = jp_serverapp.identity_provider.token
    host = f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url}mullama"
    c = ollama.AsyncClient(host=host, headers={"Authorization": f"token {token}"})
    yield c
    jp_asyncio_loop.run_until_complete(c.close())  # its connections must not outlive the loop


@pytest.mark.parametrize("method, path", ROUTES)
async def test_every_route_needs_jupyter_auth(jp_fetch, method, path):
    body = None if method in ("GET", "HEAD") else json.dumps({"model": MODEL})
    kwargs = {"allow_nonstandard_methods": True} if method == "DELETE" else {}
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*path.split("/"), method=method, body=body, headers={"Authorization": ""}, **kwargs)
    assert e.value.code == 403
    if method != "HEAD":  # JSON in Ollama's envelope, whichever check refused it (auth or XSRF)
        body = json.loads(e.value.response.body)
        assert list(body) == ["error"] and body["error"] in ("forbidden", "'_xsrf' argument missing from POST")


async def test_token_and_bearer_both_work(jp_fetch, jp_serverapp):
    token = jp_serverapp.identity_provider.token
    for header in (f"token {token}", f"Bearer {token}"):
        r = await jp_fetch("mullama", "api", "tags", headers={"Authorization": header})
        assert [m["name"] for m in json.loads(r.body)["models"]] == [MODEL]


async def test_the_ollama_client_without_a_token_gets_403(http_server_client, http_server_port, jp_base_url):
    c = ollama.AsyncClient(host=f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url}mullama")
    try:
        with pytest.raises(ollama.ResponseError) as e:
            await c.list()
        assert e.value.status_code == 403
    finally:
        await c.close()


async def test_ollama_client_end_to_end(client):
    assert [m.model for m in (await client.list()).models] == [MODEL]
    info = await client.show(MODEL)
    assert info.details.quantization_level == "Q4_1"

    parts = [p async for p in await client.generate(MODEL, "Say hi.", stream=True, options={"num_predict": 12})]
    assert len(parts) > 2 and parts[-1].done and parts[-1].eval_count
    r = await client.generate(MODEL, "Say hi.", options={"num_predict": 8, "temperature": 0})
    assert r.done and r.response

    r = await client.chat(MODEL, messages=[{"role": "user", "content": "What is 2+2?"}], options={"num_predict": 16})
    assert r.message.role == "assistant" and r.message.content

    e = await client.embed(MODEL, input="hello")
    assert len(e.embeddings) == 1 and len(e.embeddings[0]) == 576

    assert [m.model for m in (await client.ps()).models] == [MODEL]
    assert (await client.generate(MODEL, "", keep_alive=0)).done_reason == "unload"
    assert (await client.ps()).models == []

    assert (await client.copy(MODEL, "team/copy:v1")).status == "success"
    assert (await client.delete("team/copy:v1")).status == "success"
    with pytest.raises(ollama.ResponseError) as err:
        await client.chat("missing", messages=[{"role": "user", "content": "hi"}])
    assert (err.value.status_code, err.value.error) == (404, "model 'missing' not found")


async def test_extension_exports_its_url_and_token_and_stops_runners(jp_serverapp, jp_base_url, client):
    # pytest-jupyter starts the app without its IO loop, so the start hooks run here, as ServerApp.start would.
    await jp_serverapp.extension_manager.start_all_extensions()
    assert os.environ["MULLAMA_HOST"].endswith(f"{jp_base_url}mullama")
    assert os.environ["MULLAMA_TOKEN"] == jp_serverapp.identity_provider.token
    await client.generate(MODEL, "hi", options={"num_predict": 1})
    ext = jp_serverapp.extension_manager.extension_apps["mullama_jupyter"]
    ext = next(iter(ext))
    (row,) = await ext.manager.ps()
    await ext.stop_extension()
    with pytest.raises(ProcessLookupError):
        os.kill(row.pid, 0)


async def test_no_undecorated_endpoint_warning(jp_configurable_serverapp, jp_server_config):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jp_configurable_serverapp(config=jp_server_config, allow_unauthenticated_access=False)
    # Other extensions (terminals) may be named in the warning; none of our routes may be.
    flagged = [line for w in caught for line in str(w.message).splitlines() if "/mullama" in line]
    assert not flagged, flagged

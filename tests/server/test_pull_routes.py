"""Pulls and management routes over HTTP: `mullama serve` pointed at the fake hub, the real ollama
client, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess

import ollama
import pytest

from tests.conftest import free_port, http_call, mullama_cmd, stop_process, wait_http
from tests.fakehf import hf_env
from tests.gguf_factory import tiny_llama_bytes

REPO = "test-org/tiny-GGUF"


@pytest.fixture
def server(fakehf, tmp_path):
    fakehf.add_repo(REPO, {"tiny-Q4_K_M.gguf": tiny_llama_bytes(**{"general.name": "a"}),
                           "tiny-Q8_0.gguf": tiny_llama_bytes(**{"general.name": "b"})})
    aliases = tmp_path / "aliases.toml"
    aliases.write_text(f'[models."tiny:1b"]\nrepo = "{REPO}"\nfile = "tiny-Q4_K_M.gguf"\n')
    port = free_port()
    env = {**os.environ, **hf_env(fakehf, tmp_path / "hf"), "MULLAMA_CACHE_DIR": str(tmp_path / "store"),
           "MULLAMA_ALIASES": str(aliases)}
    proc = subprocess.Popen(mullama_cmd("serve", "--port", str(port), "--engine", "echo", "--auto-pull", "-q"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/api/version", proc=proc)
        yield {"url": url, "env": env, "hub": fakehf}
    finally:
        stop_process(proc)


def http(url, method="GET", body=None):
    return http_call(url, method, None if body is None else json.dumps(body).encode())


def test_ollama_client_pulls_from_the_hub_with_ollama_shaped_progress(server):
    with ollama.Client(host=server["url"]) as c:
        steps = list(c.pull(f"hf:{REPO}", stream=True))
        statuses = [s.status for s in steps]
        digest = "sha256:" + server["hub"].sha256(REPO, "tiny-Q4_K_M.gguf")
        assert statuses[0] == "pulling manifest"
        assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
        transfer = [s for s in steps if s.total]
        assert transfer and transfer[-1].digest == digest and transfer[-1].completed == transfer[-1].total
        assert transfer[-1].status == f"pulling {digest[7:19]}"
        assert c.pull(f"hf:{REPO}:Q8_0").status == "success"  # stream:false → the final status only
        names = {m.model for m in c.list().models}
        assert names == {"hf.co/test-org/tiny-GGUF:Q4_K_M", "hf.co/test-org/tiny-GGUF:Q8_0"}
        with pytest.raises(ollama.ResponseError) as e:
            c.pull("hf:nobody/nothing-GGUF")
        assert e.value.error == "pull model manifest: file does not exist"


def test_a_streamed_pull_error_arrives_after_pulling_manifest(server):
    status, body = http(server["url"] + "/api/pull", "POST", {"model": "hf:nobody/nothing-GGUF"})
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert status == 200 and lines[0] == {"status": "pulling manifest"}
    assert lines[-1] == {"error": "pull model manifest: file does not exist"}
    status, body = http(server["url"] + "/api/pull", "POST", {"model": "hf:bad repo"})
    assert status == 400 and "invalid Hugging Face repository" in json.loads(body)["error"]


def test_management_routes(server):
    url = server["url"]
    status, body = http(url + "/api/models/pull", "POST", {"name": "tiny:1b"})
    assert status == 200 and json.loads(body.decode().splitlines()[-1]) == {"status": "success"}
    status, body = http(url + "/api/models")
    data = json.loads(body)
    (model,) = data["models"]
    assert model["name"] == "tiny:1b" and model["loaded"] is False
    aliases = {a["name"]: a for a in data["aliases"]}
    assert aliases["tiny:1b"]["repo"] == REPO and "llama3.2:1b" in aliases and aliases["smollm2:135m"]["bundled"]
    status, body = http(url + "/api/models/tiny:1b")
    detail = json.loads(body)
    assert status == 200 and detail["mullama_source"]["commit"] == server["hub"].resolve(REPO)
    assert http(url + "/api/models/tiny:1b", "DELETE") == (200, b'{"status":"success"}')
    status, body = http(url + "/api/models/tiny:1b")
    assert status == 404 and json.loads(body) == {"error": "model 'tiny:1b' not found"}


def test_auto_pull_serves_a_missing_known_model(server):
    with ollama.Client(host=server["url"]) as c:
        r = c.generate("tiny:1b", "pulled on demand", raw=True)
        assert r.response == "pulled on demand "
        with pytest.raises(ollama.ResponseError) as e:
            c.generate("never-heard-of:1b", "x")
        assert e.value.status_code == 404


def test_cli_pull_aliases_and_show(server, tmp_path):
    env = {**server["env"], "MULLAMA_CACHE_DIR": str(tmp_path / "cli-store")}
    out = subprocess.run(mullama_cmd("--embedded", "pull", f"hf:{REPO}:Q8_0"), capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0 and out.stderr.strip().splitlines()[-1] == "success", out.stderr
    show = subprocess.run(mullama_cmd("--embedded", "show", f"hf:{REPO}:Q8_0"), capture_output=True, text=True,
                          env=env, timeout=60).stdout
    assert f"hf {REPO}" in show and f"commit              {server['hub'].resolve(REPO)}" in show
    listing = subprocess.run(mullama_cmd("--embedded", "aliases"), capture_output=True, text=True, env=env,
                             timeout=60).stdout.splitlines()
    assert listing[0].split() == ["NAME", "REPOSITORY", "FILE", "TAGS"]
    assert any(line.startswith("llama3.2:1b ") for line in listing) and any(line.startswith("tiny:1b ") for line in listing)

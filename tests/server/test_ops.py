"""``GET /metrics`` and ``GET /api/system/status`` on both hosts, with figures moved by real generations."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import HTTPClientError

from mullama_jupyter.server.ops import store_usage
from tests.conftest import MODEL

pytestmark = pytest.mark.model

PLAIN = "text/plain; version=0.0.4; charset=utf-8"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(figures: dict, name: str, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


def get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url) as r:
        return r.headers["Content-Type"], r.read()


def post_chat(url: str, n: int) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say hi."}], "stream": False,
            "options": {"temperature": 0, "num_predict": n}}
    req = urllib.request.Request(url + "/api/chat", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def test_store_usage_counts_every_file(tmp_path: Path):
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "sha256-ab").write_bytes(b"x" * 100)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "latest").write_bytes(b"{}")
    assert store_usage(tmp_path) == {"size": 102, "files": 2, "blobs": 1}


def test_standalone_metrics_move_after_a_real_generation(standalone: str):
    content_type, before_text = get(standalone + "/metrics")
    assert content_type == PLAIN
    before = samples(before_text.decode())
    answer = post_chat(standalone, 8)
    content_type, after_text = get(standalone + "/metrics")
    after = samples(after_text.decode())

    tokens = value(after, "mullama_tokens_generated_total", model=MODEL) - value(
        before, "mullama_tokens_generated_total", model=MODEL)
    assert tokens == answer["eval_count"] > 0
    assert value(after, "mullama_prompt_tokens_total", model=MODEL) - value(
        before, "mullama_prompt_tokens_total", model=MODEL) == answer["prompt_eval_count"]
    for name in ("mullama_time_to_first_token_seconds_count", "mullama_tokens_per_second_count"):
        assert value(after, name, model=MODEL) == value(before, name, model=MODEL) + 1
    chat = {"route": "ollama.Chat", "method": "POST"}
    assert value(after, "mullama_http_requests_total", **chat, status="200") == value(
        before, "mullama_http_requests_total", **chat, status="200") + 1
    assert value(after, "mullama_http_request_duration_seconds_count", **chat) >= 1
    assert value(after, "mullama_models_loaded") >= 1
    assert value(after, "mullama_model_load_seconds_count", model=MODEL) >= 1
    assert value(after, "mullama_queue_depth", model=MODEL) == 0
    assert value(after, "mullama_http_requests_active", route="ops.Metrics") == 1  # this very scrape
    # Labels name route classes, never raw paths.
    routes = {dict(labels).get("route") for name, labels in after if name == "mullama_http_requests_total"}
    assert routes and all(r and "/" not in r for r in routes)

    with urllib.request.urlopen(urllib.request.Request(
            standalone + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text") and r.read().endswith(b"# EOF\n")


def test_standalone_status(standalone: str, model_store_dir: Path):
    post_chat(standalone, 4)
    _, body = get(standalone + "/api/system/status")
    s = json.loads(body)
    assert s["host"] == "standalone" and s["version"] and s["pid"] not in (0, os.getpid())
    assert s["uptime_secs"] > 0 and s["started_at"]
    assert s["models"]["total"] == 1 and s["models"]["loaded"] == 1
    [loaded] = s["loaded"]
    assert loaded["name"] == MODEL and loaded["size"] > loaded["model_size"] > 90_000_000
    assert loaded["context_length"] > 0 and loaded["pid"] > 0 and loaded["expires_at"] and loaded["threads"] > 0
    assert s["queue"][MODEL] == {"waiting": 0, "active": 0}
    assert s["threads"]["physical_cores"] >= 1 and s["threads"]["num_thread"] == 0
    assert s["store"]["path"] == str(model_store_dir)
    assert s["store"]["size"] >= loaded["model_size"] and s["store"]["blobs"] >= 1
    assert s["memory"]["loaded_models"] == loaded["size"]


@pytest.fixture
def jp_server_config(fresh_store):
    return {
        "ServerApp": {"jpserver_extensions": {"mullama_jupyter": True}},
        "MullamaExtension": {"models_dir": str(fresh_store.root)},
    }


async def test_jupyter_metrics_and_status(jp_fetch, fresh_store):
    for path in (("metrics",), ("api", "system", "status")):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("mullama", *path, headers={"Authorization": ""})
        assert e.value.code == 403

    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": False,
            "options": {"num_predict": 4, "temperature": 0}}
    r = await jp_fetch("mullama", "api", "chat", method="POST", body=json.dumps(body), request_timeout=120)
    answer = json.loads(r.body)
    r = await jp_fetch("mullama", "metrics")
    assert r.headers["Content-Type"] == PLAIN
    figures = samples(r.body.decode())
    assert value(figures, "mullama_tokens_generated_total", model=MODEL) == answer["eval_count"]
    assert value(figures, "mullama_http_requests_total", route="ollama.Chat", method="POST", status="200") == 1

    s = json.loads((await jp_fetch("mullama", "api", "system", "status")).body)
    assert s["host"] == "jupyter" and s["pid"] == os.getpid()  # the manager runs inside the Jupyter server
    assert s["store"]["path"] == str(fresh_store.root)
    assert [m["name"] for m in s["loaded"]] == [MODEL]

"""The notebooks in notebooks/ run top to bottom with nbclient, against a real Jupyter server with the
extension: the kernel gets MULLAMA_HOST/MULLAMA_TOKEN as the extension exports them, so the server's
manager does the work (checked through its /api/ps)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import MODEL, REPO

pytestmark = pytest.mark.model


def outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", [])]


def text_of(cell) -> str:
    parts = []
    for o in outputs(cell):
        if o["output_type"] == "stream":
            parts.append(o["text"])
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
    return "".join(parts)


def run_notebook(name: str, server: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    """Execute notebooks/<name> in a copy, its kernel pointed at ``server``'s manager as the extension would;
    its code cells, none of which may have failed."""
    monkeypatch.setenv("MULLAMA_HOST", server["url"] + "mullama")
    monkeypatch.setenv("MULLAMA_TOKEN", server["token"])
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(REPO / "notebooks" / name, work / name)
    nb = nbformat.read(work / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in cells for o in outputs(c) if o["output_type"] == "error"]
    return cells


def test_the_magics_notebook_runs_against_the_jupyter_servers_manager(jupyter_server, tmp_path, monkeypatch):
    url = jupyter_server["url"] + "mullama"
    cells = run_notebook("magics.ipynb", jupyter_server, tmp_path, monkeypatch)
    by_source = {c.source.splitlines()[0]: c for c in cells}
    assert f"server at {url}" in text_of(by_source["%mullama status"])
    assert MODEL in text_of(by_source["%mullama list"])
    run = by_source["%%mullama run smollm2:135m -t 0 -n 48 -v answer"]
    [result] = [o for o in outputs(run) if o["output_type"] == "execute_result"]
    assert result["data"]["text/markdown"].strip()  # rendered as markdown, once
    live = [o for o in outputs(run) if o["output_type"] == "display_data"]
    assert live and all(o["data"].get("text/plain", "") == "" for o in live)  # the live view was cleared
    assert "tokens/s" in text_of(by_source["len(answer), answer.summary()"])
    history = text_of(by_source["%mullama history --session trip"])
    assert "[user] Hi! I am planning a trip to Lisbon." in history and "[user] What should I pack?" in history
    json_cell = next(c for c in cells if "--format json" in c.source)
    [value] = [o for o in outputs(json_cell) if o["output_type"] == "execute_result"]
    assert isinstance(value["data"]["application/json"], dict)
    assert "eval rate:" in text_of(by_source["%mullama last"])

    req = urllib.request.Request(url + "/api/ps", headers={"Authorization": f"token {jupyter_server['token']}"})
    with urllib.request.urlopen(req) as r:
        assert [m["name"] for m in json.loads(r.read())["models"]] == [MODEL]  # the server ran it


def test_the_embeddings_notebook_runs(jupyter_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(tmp_path / "cache-home"))  # where the kernel keeps its vector cache
    cells = run_notebook("embeddings.ipynb", jupyter_server, tmp_path, monkeypatch)
    by_start = {c.source.splitlines()[0]: c for c in cells}
    assert text_of(by_start["vectors = reviews.mullama.embed(\"text\", MODEL)"]) == "((16, 576), 576)"
    assert text_of(by_start["# Running it again is served from the cache."]) == "(16, 0)"
    first_search = next(c for c in cells if "battery lasts two full days" in c.source)
    assert "review-0" in text_of(first_search).splitlines()[1]  # a row's own text ranks it first
    plot = next(c for c in cells if "plt.subplots" in c.source)
    assert any("image/png" in o.get("data", {}) for o in outputs(plot))
    assert (tmp_path / "cache-home" / "cache" / "embeddings.sqlite").exists()

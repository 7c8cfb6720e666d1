"""`%mullama` and `%%mullama run` in a real IPython shell, embedded and through a server."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from tests.conftest import MODEL

pytestmark = pytest.mark.model


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mullama_jupyter")
    yield shell
    shell.magics_manager.registry.pop("MullamaMagics", None)
    shell.extension_manager.loaded.discard("mullama_jupyter")


def magics(ip):
    return ip.magics_manager.registry["MullamaMagics"]


def test_cell_magic_streams_the_answer_through_a_server(ip, standalone, monkeypatch):
    monkeypatch.setenv("MULLAMA_HOST", standalone)
    magics(ip)._client = None
    with capture_output() as out:
        ip.run_line_magic("mullama", "status")
    assert f"server at {standalone}" in out.stdout
    with capture_output() as out:
        ip.run_cell_magic("mullama", f"run {MODEL} -o temperature=0 -o num_predict=24",
                          "What is the capital of France? One word.")
    assert "Paris" in out.stdout
    with capture_output() as out:
        ip.run_line_magic("mullama", "list")
    assert out.stdout.splitlines()[1].startswith(MODEL)
    with capture_output() as out:
        ip.run_line_magic("mullama", "ps")
    assert MODEL in out.stdout


def test_line_magics_embedded(ip, fresh_store, monkeypatch):
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(fresh_store.root))
    magics(ip)._client = None
    with capture_output() as out:
        ip.run_line_magic("mullama", "status")
    assert "embedded manager" in out.stdout and str(fresh_store.root) in out.stdout
    with capture_output() as out:
        ip.run_line_magic("mullama", f"show {MODEL}")
    assert "quantization        Q4_1" in out.stdout
    with capture_output() as out:
        ip.run_line_magic("mullama", f"cp {MODEL} other:v1")
        ip.run_line_magic("mullama", "list")
        ip.run_line_magic("mullama", "rm other:v1")
    assert "other:v1" in out.stdout and "deleted 'other:v1'" in out.stdout
    with capture_output() as out:
        ip.run_line_magic("mullama", f"pull {MODEL}")
    assert out.stdout.strip().splitlines()[-1] == "success"


def test_aliases_and_pull_progress_in_a_terminal(ip, fresh_store, monkeypatch):
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(fresh_store.root))
    magics(ip)._client = None
    with capture_output() as out:
        ip.run_line_magic("mullama", "aliases")
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "REPOSITORY", "FILE", "TAGS"]
    assert any(line.startswith("nomic-embed-text ") for line in lines)
    with capture_output() as out:
        ip.run_line_magic("mullama", f"pull {MODEL}")
    assert out.stdout.splitlines()[0] == "pulling manifest"  # text, not a widget, outside a notebook


def test_cell_magic_creates_a_model_from_a_modelfile(ip, fresh_store, monkeypatch):
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(fresh_store.root))
    magics(ip)._client = None
    with capture_output() as out:
        ip.run_cell_magic("mullama", "create terse", f"FROM {MODEL}\nSYSTEM Answer in one word.\nPARAMETER temperature 0\n")
    assert out.stdout.strip().splitlines()[-1] == "success"
    with capture_output() as out:
        ip.run_line_magic("mullama", "show terse --modelfile")
    assert "SYSTEM Answer in one word." in out.stdout and "PARAMETER temperature 0" in out.stdout
    with pytest.raises(UsageError) as e:
        ip.run_cell_magic("mullama", "create bad", "PARAMETER temperature 0\n")
    assert "no FROM line" in str(e.value)


@pytest.mark.parametrize("line, cell, message", [
    ("frobnicate", None, "unknown command 'frobnicate'"),
    ("show nope", None, "model 'nope' not found"),
    ("cp only-one", None, "usage: %mullama cp SOURCE DESTINATION"),
    ("run", None, "%%mullama run MODEL"),
    ("run nope:1b", "hi", "model 'nope:1b' not found"),
    ("run", "hi", "the following arguments are required: model"),
    (f"run {MODEL} -o num_ctx=-1", "hi", 'option "num_ctx" is out of range'),
    (f"run {MODEL}", "   ", "the cell is empty"),
    ("list", "body", "%%mullama supports 'run MODEL' and 'create NAME'"),
    ("show 'unclosed", None, "cannot parse"),
])
def test_errors_are_usage_errors_with_one_actionable_line(ip, fresh_store, monkeypatch, line, cell, message):
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(fresh_store.root))
    magics(ip)._client = None
    with pytest.raises(UsageError) as e:
        if cell is None:
            ip.run_line_magic("mullama", line)
        else:
            ip.run_cell_magic("mullama", line, cell)
    assert type(e.value) is UsageError  # a subclass would make IPython print a traceback
    assert message in str(e.value)

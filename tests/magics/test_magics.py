"""`%mullama` and `%%mullama` in a real IPython shell with the real model, embedded and through a server."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from mullama_jupyter.magics import MullamaResult, commands
from tests.conftest import MODEL

pytestmark = pytest.mark.model


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mullama_jupyter")
    yield shell
    shell.run_line_magic("unload_ext", "mullama_jupyter")
    shell.config.pop("MullamaMagics", None)  # %config settings would outlive the test otherwise


@pytest.fixture
def served(ip, standalone, monkeypatch):
    """The magics talking to a real `mullama serve` (whose model stays loaded between tests)."""
    monkeypatch.setenv("MULLAMA_HOST", standalone)
    return magics(ip)


@pytest.fixture
def embedded(ip, fresh_store, monkeypatch):
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(fresh_store.root))
    return magics(ip)


def magics(ip):
    return ip.magics_manager.registry["MullamaMagics"]


def cell(ip, line, body=None):
    return ip.run_line_magic("mullama", line) if body is None else ip.run_cell_magic("mullama", line, body)


# ----------------------------------------------------------------------------- help


def test_help_lists_every_command_and_each_command_explains_itself(ip):
    with capture_output() as out:
        assert cell(ip, "help") is None
    for name, _, _ in commands.COMMANDS:
        assert f"%mullama {name}" in out.stdout or f"%%mullama {name}" in out.stdout
    with capture_output() as out:
        assert cell(ip, "run --help") is None
    assert "--num-predict" in out.stdout and "--format {markdown,text,code,json,html}" in out.stdout
    with capture_output() as out:
        cell(ip, "help chat")
    assert "--persist" in out.stdout


# ----------------------------------------------------------------------------- running


def test_a_terminal_gets_the_text_as_it_streams_and_a_summary_as_the_value(ip, served, standalone):
    with capture_output() as out:
        cell(ip, "status")
    assert f"server at {standalone} (mullama serve; scheme http" in out.stdout
    with capture_output() as out:
        r = cell(ip, f"run {MODEL} -t 0 -n 24 -o num_ctx=2048", "What is the capital of France? One word.")
    assert "Paris" in out.stdout and isinstance(r, MullamaResult) and "Paris" in r
    assert r.model == MODEL and r.metrics.eval_count > 0 and r.streamed_as_text
    assert r._repr_mimebundle_()["text/plain"].startswith(f"[{MODEL} · ")  # not the text a second time
    with capture_output() as out:
        line = cell(ip, f'run {MODEL} "Say hi." -n 8 --format text')
    assert str(line) in out.stdout


def test_a_notebook_sees_incremental_updates_then_the_rendered_answer(ip, served):
    served.output = "notebook"
    served.display_interval = 0.02
    with capture_output() as out:
        ip.run_cell(f"%%mullama run {MODEL} -t 0 -n 64 -v poem\nWrite a short poem about the sea.", store_history=True)
    result = ip.user_ns["_"]
    assert isinstance(result, MullamaResult) and ip.user_ns["poem"] is result
    updates = [o.data["text/plain"] for o in out.outputs if "text/plain" in o.data and o.data["text/plain"]]
    # Several growing snapshots reached the front end before the end, each a prefix of the answer.
    assert len(updates) >= 3 and all(result.text.startswith(u) for u in updates)
    assert len(set(updates)) >= 3
    # Then the live display is cleared, and the cell's value (Out[n]) shows the rendered answer once.
    assert out.outputs[-1].data == {"text/plain": ""} and out.outputs[-1].update
    assert ip.user_ns["Out"][ip.execution_count - 1] is result
    assert result._repr_mimebundle_() == {"text/plain": result.text, "text/markdown": result.text}
    assert served.last is result


def test_json_code_and_html_formats(ip, served):
    r = cell(ip, f"run {MODEL} -t 0 -n 64 --format json", "Give a JSON object with a name and an age.")
    assert isinstance(r.data, (dict, list)) and r._repr_mimebundle_()["application/json"] == r.data
    ip.rl_next_input = None
    r = cell(ip, f"run {MODEL} -t 0 -n 80 --format code", "Write a Python function that adds two numbers.")
    assert "```" in r._repr_mimebundle_()["text/markdown"]
    assert ip.rl_next_input and "```" not in ip.rl_next_input  # the code, as the next cell
    r = cell(ip, f"run {MODEL} -n 8 --format html", "Say hi.")
    assert "text/html" in r._repr_mimebundle_()


def test_interpolation_through_a_chat_and_the_history_it_keeps(ip, served):
    ip.user_ns["d"] = {"a": 1}
    ip.user_ns["city"] = "Paris"
    cell(ip, f"chat {MODEL} -t 0 -n 24 --session trip",
         'My favourite city is {city}. Here is data: d = {d} and JSON {"k": {"v": [1]}} and {{city}} and {nope}.')
    sent = magics(ip).sessions.get("trip").messages[0]["content"]
    assert sent == ("My favourite city is Paris. Here is data: d = {'a': 1} and JSON {\"k\": {\"v\": [1]}} and "
                    "{city} and {nope}.")
    r = cell(ip, "chat -t 0 -n 24 --session trip", "What is my favourite city?")  # the session's model
    fresh = cell(ip, f"run {MODEL} -t 0 -n 24", "What is my favourite city?")
    # The model saw the earlier turn: the second prompt carries the first exchange.
    assert r.session == "trip" and r.metrics.prompt_eval_count > fresh.metrics.prompt_eval_count + 40
    msgs = magics(ip).sessions.get("trip").messages
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    with capture_output() as out:
        cell(ip, "history --session trip")
    assert "[user] What is my favourite city?" in out.stdout
    cell(ip, f"chat {MODEL} -n 4", "{{city}}", )  # the default session is another conversation
    assert len(magics(ip).sessions.get("default").messages) == 2
    with capture_output() as out:
        cell(ip, "reset --session trip")
    assert magics(ip).sessions.get("trip").messages == [] and "cleared" in out.stdout
    raw = cell(ip, f"run {MODEL} -n 4 --no-interpolate", "{city}")
    assert isinstance(raw, MullamaResult)


def test_in_out_and_err_reach_the_prompt(ip, served):
    ip.run_cell("x = 6 * 7", store_history=True)
    ip.run_cell("x", store_history=True)
    n_out = ip.execution_count - 1
    ip.run_cell("1/0", store_history=True)
    n_err = ip.execution_count - 1
    cell(ip, f"chat {MODEL} -n 4 --session hist", f"{{In[{n_out}]}} gave {{Out[{n_out}]}}; then {{Err[{n_err}]}}")
    sent = magics(ip).sessions.get("hist").messages[0]["content"]
    assert sent == "x gave 42; then ZeroDivisionError: division by zero"


def test_sessions_persist_across_a_kernel_restart(ip, served, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cell(ip, f"chat {MODEL} -t 0 -n 8 --session saved --persist", "Remember the number 7.")
    assert (tmp_path / "mullama-chat-saved.json").exists()
    ip.run_line_magic("unload_ext", "mullama_jupyter")  # a new kernel has new magics, and no memory
    ip.run_line_magic("load_ext", "mullama_jupyter")
    r = cell(ip, "chat -n 8 --session saved --persist", "Which number?")
    assert r.model == MODEL
    saved = json.loads((tmp_path / "mullama-chat-saved.json").read_text())
    assert [m["content"] for m in saved["messages"]][0::2] == ["Remember the number 7.", "Which number?"]


def test_last_shows_the_timings(ip, served):
    cell(ip, f"run {MODEL} -n 8", "Hi")
    with capture_output() as out:
        cell(ip, "last")
    assert f"model: {MODEL}" in out.stdout and "eval rate:" in out.stdout


def test_an_interrupt_stops_the_generation_promptly(ip, served):
    m = served
    m.last_view = None

    def interrupt_once_streaming():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            view = m.last_view
            if view is not None and view.text:
                os.kill(os.getpid(), signal.SIGINT)  # what the kernel's ■ button does
                return
            time.sleep(0.01)

    threading.Thread(target=interrupt_once_streaming, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(UsageError, match="interrupted: generation stopped after"):
        cell(ip, f"run {MODEL} -n 3000 -o '{{\"num_ctx\": 4096}}'", "Write a very long story about a dragon.")
    assert time.monotonic() - t0 < 10  # 3000 tokens would take ~40 s
    assert m.last.done_reason == "interrupted" and m.last.text
    # The runner stopped: the next request is answered at once instead of queueing behind 3000 tokens.
    t1 = time.monotonic()
    cell(ip, f"run {MODEL} -n 4", "Hi")
    assert time.monotonic() - t1 < 5


# ----------------------------------------------------------------------------- management


def test_line_magics_embedded(ip, embedded, fresh_store):
    with capture_output() as out:
        cell(ip, "status")
    assert "embedded manager" in out.stdout and str(fresh_store.root) in out.stdout
    with capture_output() as out:
        cell(ip, f"show {MODEL}")
    assert "quantization        Q4_1" in out.stdout
    with capture_output() as out:
        cell(ip, f"cp {MODEL} other:v1")
        cell(ip, "list")
        cell(ip, "rm other:v1")
    assert "other:v1" in out.stdout and "deleted 'other:v1'" in out.stdout
    with capture_output() as out:
        cell(ip, f"pull {MODEL}")
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "pulling manifest" and lines[-2] == "success"  # text, not a widget, outside a notebook
    assert lines[-1].startswith(f"pulled {MODEL} (98 MB) in ")
    v = cell(ip, f'embed {MODEL} "a cat" --dimensions 16')
    assert isinstance(v, np.ndarray) and v.shape == (16,) and v.dtype == np.float32
    assert cell(ip, f'embed {MODEL} "a" "b"').shape[0] == 2
    with capture_output() as out:
        cell(ip, f"stop {MODEL}")
    assert f"unloaded '{MODEL}'" in out.stdout


def test_aliases_and_create_from_a_cell_and_a_file(ip, embedded, tmp_path):
    with capture_output() as out:
        cell(ip, "aliases")
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "REPOSITORY", "FILE", "TAGS"]
    assert any(line.startswith("nomic-embed-text ") for line in lines)
    with capture_output() as out:
        cell(ip, "create terse", f"FROM {MODEL}\nSYSTEM Answer in one word.\nPARAMETER temperature 0\n")
    assert out.stdout.strip().splitlines()[-1] == "success"
    with capture_output() as out:
        cell(ip, "show terse --modelfile")
    assert "SYSTEM Answer in one word." in out.stdout and "PARAMETER temperature 0" in out.stdout
    (tmp_path / "Modelfile").write_text(f"FROM {MODEL}\nSYSTEM Be kind.\n")
    with capture_output() as out:
        cell(ip, f"create kind -f {tmp_path / 'Modelfile'}")
    assert out.stdout.strip().splitlines()[-1] == "success"


def test_connect_config_and_the_default_model(ip, embedded, standalone):
    with capture_output() as out:
        cell(ip, f"connect {standalone}")
    assert f"server at {standalone}" in out.stdout
    ip.run_line_magic("config", f"MullamaMagics.default_model = '{MODEL}'")
    r = cell(ip, 'run "Say hi." -n 4')
    assert r.model == MODEL
    with capture_output() as out:
        cell(ip, "config")
    assert f"MullamaMagics.default_model = '{MODEL}'" in out.stdout and standalone in out.stdout
    with pytest.raises(UsageError, match="%mullama connect"):
        cell(ip, "connect http://127.0.0.1:9")
    with capture_output() as out:
        cell(ip, "status")  # a failed connect changed nothing
    assert standalone in out.stdout
    with capture_output() as out:
        cell(ip, "connect --embedded")
    assert "embedded manager" in out.stdout


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("line, body, message", [
    ("frobnicate", None, "unknown command 'frobnicate'"),
    ("lst", None, "did you mean 'list'?"),
    ("show nope", None, "model 'nope' not found (%mullama list shows local models"),
    ("show smollm2:136m", None, "did you mean 'smollm2:135m'?"),
    ("run llama3.2:1b", "hi", "pull it with: %mullama pull llama3.2:1b"),
    ("cp only-one", None, "the following arguments are required: destination"),
    ("run", None, "write the prompt in the cell"),
    ("run", "hi", "name a model"),
    (f"run {MODEL} -o num_ctx=-1", "hi", 'option "num_ctx" is out of range'),
    (f"run {MODEL} -o '{{bad'", "hi", "is not a JSON object"),
    (f"run {MODEL} --format yaml", "hi", "invalid choice: 'yaml'"),
    (f"run {MODEL} --think", "hi", "does not support thinking"),
    (f"run {MODEL}", "   ", "the cell is empty"),
    (f"run {MODEL} --raw --system x", "hi", "cannot be combined with --system"),
    (f"chat {MODEL} --session ../x", "hi", "invalid session name"),
    (f"run {MODEL} -n 2 -t 0 --format json", "Describe a person in JSON.", "(cut at the token limit: raise -n); the text is in %mullama last"),
    ("list", "body", "%%mullama supports run, chat and create"),
    ("show 'unclosed", None, "cannot parse"),
    ("create x", None, "give the Modelfile"),
    ("create bad", "PARAMETER temperature 0\n", "no FROM line"),
])
def test_errors_are_usage_errors_with_one_actionable_line(ip, embedded, line, body, message):
    with pytest.raises(UsageError) as e:
        cell(ip, line, body)
    assert type(e.value) is UsageError  # a subclass would make IPython print a traceback
    assert message in str(e.value) and "\n" not in str(e.value).strip()


def test_a_failing_cell_stops_run_all(ip, embedded):
    result = ip.run_cell("%mullama show nope")
    assert not result.success and isinstance(result.error_in_exec, UsageError)


def test_chat_widget_from_the_magic(ip, embedded):
    from mullama_jupyter.widgets import Chat

    panel = cell(ip, f"chat {MODEL} --widget")
    assert isinstance(panel, Chat) and panel.model == MODEL

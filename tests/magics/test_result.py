"""The answer object and the live view, without a model: what each format shows, and what a notebook receives."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from mullama_jupyter.core.native import Metrics
from mullama_jupyter.magics.live import LiveView
from mullama_jupyter.magics.result import MullamaResult, extract_code, fence


def make(text, **kw):
    return MullamaResult.make(text, model="m", metrics=Metrics(eval_count=10, eval_duration=500_000_000), **kw)


def test_formats_and_the_thinking_block():
    r = make("**hi**", thinking="x < y", format="markdown")
    md = r._repr_mimebundle_()["text/markdown"]
    assert md.startswith("<details><summary>Thinking</summary>") and "x &lt; y" in md and md.endswith("**hi**")
    assert make("a", format="text")._repr_mimebundle_() == {"text/plain": "a"}
    assert make("<b>a</b>", format="html")._repr_mimebundle_()["text/html"] == "<b>a</b>"
    assert make("[1]", format="json", data=[1])._repr_mimebundle_()["application/json"] == [1]
    code = make("Here:\n```python\nprint(1)\n```\nDone.", format="code")._repr_mimebundle_()["text/markdown"]
    assert code == "```\nprint(1)\n```"
    assert r.summary() == "[m · 10 tokens · 20.0 tokens/s]" and r.upper() == "**HI**"


def test_code_extraction_and_fences():
    assert extract_code("no fences") == "no fences"
    assert extract_code("```js\nlet a = 1\n```") == "let a = 1"
    assert extract_code("```\nunclosed") == "unclosed"
    assert fence("has ``` inside") == "````\nhas ``` inside\n````"


def test_a_notebook_view_updates_in_place_then_clears():
    InteractiveShell.instance()  # display() publishes through the shell
    view = LiveView(notebook=True, interval=0)
    with capture_output() as out:
        view.thinking("hmm ")
        view.content("Hello")
        view.content(" world")
        view.finish()
    data = [(o.data["text/plain"], o.update) for o in out.outputs]
    assert data == [("Thinking…\nhmm ", False), ("Hello", False), ("Hello world", True), ("", True), ("", True)]


def test_a_terminal_view_writes_through():
    view = LiveView(notebook=False)
    with capture_output() as out:
        view.thinking("plan")
        view.content("answer")
        view.finish()
    assert out.stdout == "Thinking...\nplan\n...done thinking.\n\nanswer\n"

"""The Go template engine and Ollama's template semantics against output of real Go.

tests/fixtures/gotemplate/cases.json is written by tests/fixtures/gotemplate/gen (Go's text/template
plus a standard-library re-implementation of Ollama's template package); every case must render
byte-identically here, and every error case must fail, with Go's message.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mullama_jupyter.core import gotemplate, ollama_template
from mullama_jupyter.core.errors import TemplateError
from mullama_jupyter.core.gotemplate import GoFunc, GoTemplate, format_float, go_sprintf
from mullama_jupyter.core.native import Message, ToolCall

CASES = json.loads((Path(__file__).parents[1] / "fixtures" / "gotemplate" / "cases.json").read_text("utf-8"))

# Upstream panics on these (Ollama answers 500 with no message); we raise a TemplateError of our own.
NO_GO_MESSAGE = {"legacy/response-inside-if-else"}


def _messages(data: dict[str, Any]) -> list[Message]:
    out = []
    for m in data.get("messages") or []:
        calls = [
            ToolCall(name=c["name"], arguments=c.get("arguments", {}), id=c.get("id", ""), index=c.get("index", 0))
            for c in m.get("tool_calls") or []
        ]
        out.append(
            Message(
                role=m["role"],
                content=m.get("content", ""),
                thinking=m.get("thinking", ""),
                images=list(m.get("images") or []),
                tool_calls=calls,
                tool_name=m.get("tool_name"),
            )
        )
    return out


def _run(case: dict[str, Any]) -> str:
    data = case["data"]
    if case["kind"] == "engine":
        return GoTemplate.parse(case["template"]).execute(data, missingkey=case.get("missingkey") or "zero")
    messages = _messages(data)
    if data.get("tag_images"):
        messages = ollama_template.tag_images(messages)
    return ollama_template.render(
        case["template"],
        messages,
        tools=data.get("tools"),
        think=data.get("think"),
        prompt=data.get("prompt"),
        suffix=data.get("suffix"),
    )


def test_fixture_size() -> None:
    assert len(CASES) >= 60
    assert sum(1 for c in CASES if "error" in c) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_go(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(TemplateError) as exc:
            _run(case)
        if case["name"] not in NO_GO_MESSAGE:
            assert exc.value.message == "template error: " + case["error"]
        return
    assert _run(case) == case["expected"]
    if case["kind"] == "ollama":
        d = case["data"]
        assert ollama_template.mode(case["template"], prompt=d.get("prompt"), suffix=d.get("suffix")) == case["mode"]
        assert ollama_template.capabilities(case["template"]) == set(case.get("capabilities", []))


# ------------------------------------------------------------------------------ engine pieces


def render(text: str, data: Any = None, **kw: Any) -> str:
    return GoTemplate.parse(text).execute(data, **kw)


def test_public_api_and_fields() -> None:
    t = GoTemplate.parse("{{ range $i, $m := .Messages }}{{ $.System }}{{ .Role }}{{ end }}{{ if .Tools }}{{ end }}")
    assert {"Messages", "System", "Role", "Tools"} <= t.fields()
    assert "and" in gotemplate.FUNCS


def test_funcs_are_extensible() -> None:
    t = GoTemplate.parse('{{ shout "hi" }}|{{ "x" | shout }}', {"shout": GoFunc(lambda s: s.upper() + "!", ["string"])})
    assert t.execute({}) == "HI!|X!"
    with pytest.raises(TemplateError, match='function "shout" not defined'):
        GoTemplate.parse("{{ shout 1 }}")


def test_go_version_features_newer_than_the_fixture_go() -> None:
    # Ollama builds with a recent Go: {{else with}} (1.23) and range over an integer (1.22)
    assert render("{{ with .a }}a{{ else with .b }}b={{ . }}{{ else }}none{{ end }}", {"b": 2}) == "b=2"
    assert render("{{ with .a }}a{{ else with .b }}b{{ else }}none{{ end }}", {}) == "none"
    assert render("{{ range 3 }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}|{{ range 0 }}{{ else }}e{{ end }}") == (
        "012|01|e"
    )


def test_trim_markers_need_a_space() -> None:
    assert render("a \n {{- 1 -}} \n b") == "a1b"
    assert render("a {{-1}} b") == "a -1 b"


def test_float_formatting_matches_go() -> None:
    assert [format_float(x) for x in (3.0, 0.1, 1e6, 123456.0, 1e-05, 1e21, -2.5)] == [
        "3", "0.1", "1e+06", "123456", "1e-05", "1e+21", "-2.5"]  # fmt: skip
    assert go_sprintf("%6.2f|%-4d|%x|%q|%v", 3.14159, 7, "hi", "a\"b", [1, "x"]) == '  3.14|7   |6869|"a\\"b"|[1 x]'
    assert go_sprintf("%d") == "%!d(MISSING)"


def test_python_attributes_are_unreachable() -> None:
    class Secret:
        password = "hunter2"

        def __str__(self) -> str:
            return "secret"

    with pytest.raises(TemplateError):
        render("{{ .x.password }}", {"x": Secret()})
    with pytest.raises(TemplateError):
        render("{{ .x.__class__ }}", {"x": "s"})
    msgs = ollama_template.template_messages([Message("user", "hi")])
    with pytest.raises(TemplateError, match="can't evaluate field __init__"):
        render("{{ range . }}{{ .__init__ }}{{ end }}", msgs)
    with pytest.raises(TemplateError, match="can't evaluate field go_fields"):
        render("{{ range . }}{{ .go_fields }}{{ end }}", msgs)


def test_runaway_output_is_stopped() -> None:
    t = "{{ range .l }}{{ range $.l }}{{ range $.l }}{{ range $.l }}xxxxxxxxxxxxxxxx{{ end }}{{ end }}{{ end }}{{ end }}"
    with pytest.raises(TemplateError, match="output exceeds"):
        render(t, {"l": list(range(40))}, max_output=1 << 20)
    doubling = '{{ $s := "ab" }}{{ range .l }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len $s }}'
    with pytest.raises(TemplateError, match="output exceeds"):
        render(doubling, {"l": list(range(40))})


def test_runaway_time_is_stopped() -> None:
    t = "{{ range .l }}{{ range $.l }}{{ range $.l }}{{ if false }}x{{ end }}{{ end }}{{ end }}{{ end }}"
    start = time.monotonic()
    with pytest.raises(TemplateError, match="too long"):
        render(t, {"l": list(range(300))}, max_seconds=0.2)
    assert time.monotonic() - start < 5


def test_recursive_template_is_stopped() -> None:
    with pytest.raises(TemplateError, match="maximum template depth"):
        render('{{ define "r" }}x{{ template "r" . }}{{ end }}{{ template "r" . }}')


# ---------------------------------------------------------------------------- Ollama semantics


def test_default_template_and_auto_response() -> None:
    assert ollama_template.render(None, [Message("user", "hello")]) == "hello"
    assert "response" in ollama_template.references("{{ .Prompt }}")
    assert ollama_template.render("Q: {{ .Prompt }} A:", [Message("user", "q"), Message("assistant", "a")]) == "Q: q A:a"


def test_parse_validates_like_create() -> None:
    with pytest.raises(TemplateError, match="undefined template specified"):
        ollama_template.parse('{{ template "x" }}')
    with pytest.raises(TemplateError, match=r"template: :1: unexpected EOF"):
        ollama_template.parse("{{ if .System }}")
    assert isinstance(ollama_template.parse("{{ .Prompt }}"), GoTemplate)


def test_capabilities() -> None:
    qwen3 = next(c["template"] for c in CASES if c["name"] == "qwen3/think-true")
    coder = next(c["template"] for c in CASES if c["name"] == "suffix/qwen-coder")
    assert ollama_template.capabilities(qwen3) == {"tools", "thinking"}
    assert ollama_template.infer_thinking_tags(qwen3) == ("<think>", "</think>")
    assert ollama_template.capabilities(coder) == {"insert"}
    assert ollama_template.capabilities("{{ .Prompt }}") == set()
    assert ollama_template.capabilities("{{ if") == set()


def test_tag_images() -> None:
    msgs = ollama_template.tag_images([Message("user", "a", images=["AA==", "AA=="]), Message("user", "b [img] c", images=["AA=="])])
    assert [m.content for m in msgs] == ["[img-0][img-1]a", "b [img-2] c"]


def test_collate_does_not_modify_the_callers_messages() -> None:
    msgs = [Message("user", "a"), Message("user", "b")]
    ollama_template.render("{{ range .Messages }}{{ .Content }}{{ end }}", msgs)
    assert [m.content for m in msgs] == ["a", "b"]


def test_date_functions() -> None:
    import datetime as dt

    today = dt.date.today()
    tmpl = '{{ currentDate }}|{{ yesterdayDate }}|{{ currentDate "ignored" }}{{ range .Messages }}{{ end }}'
    out = ollama_template.render(tmpl, [])
    assert out == f"{today:%Y-%m-%d}|{today - dt.timedelta(days=1):%Y-%m-%d}|{today:%Y-%m-%d}"


def test_else_with_only_follows_with() -> None:
    with pytest.raises(TemplateError, match=r"template: :1: unexpected <with> in input"):
        GoTemplate.parse("{{ if .a }}{{ else with .b }}{{ end }}")

"""Prompt interpolation: names are substituted once; every other brace survives."""

from __future__ import annotations

import pandas as pd
import pytest

from mullama_jupyter.magics.interpolate import MAX_CHARS, interpolate


class Obj:
    name = "widget"
    _secret = "hidden"


NS = {"d": {"a": 1}, "x": 42, "obj": Obj(), "In": ["", "print(1)", "1/0"], "Out": {1: 3.5},
      "Err": {2: "ZeroDivisionError: division by zero"}, "text": "{x}"}


@pytest.mark.parametrize("prompt, expected", [
    ("value {x}", "value 42"),
    ("dict {d}", "dict {'a': 1}"),
    ("attr {obj.name}", "attr widget"),
    ("history {In[1]} -> {Out[1]}", "history print(1) -> 3.5"),
    ("why: {Err[2]}", "why: ZeroDivisionError: division by zero"),
    ("last input {In[-1]}", "last input 1/0"),
    # Everything else stays as written.
    ("d = {'a': 1}", "d = {'a': 1}"),
    ('{"key": {"nested": [1, 2]}}', '{"key": {"nested": [1, 2]}}'),
    ("f'{undefined}' and {x!r} and {x:>4}", "f'{undefined}' and {x!r} and {x:>4}"),
    ("function f() { return {a}; }", "function f() { return {a}; }"),
    ("{{x}} is how you write a literal", "{x} is how you write a literal"),
    ("{{{{ jinja }}}}", "{{{{ jinja }}}}"),
    ("private {obj._secret}", "private {obj._secret}"),
    ("missing {Out[9]} {Err[1]}", "missing {Out[9]} {Err[1]}"),
    ("once: {text}", "once: {x}"),  # a substituted value is not scanned again
])
def test_interpolation(prompt, expected):
    assert interpolate(prompt, NS) == expected


def test_a_dataframe_becomes_a_compact_preview():
    df = pd.DataFrame({"n": range(100_000), "s": ["x" * 10] * 100_000})
    text = interpolate("rows: {df}", {"df": df})
    assert "[DataFrame: 100000 rows × 2 columns]" in text and len(text) < 2_000
    s = interpolate("{s}", {"s": df["n"]})
    assert "[Series 'n': 100000 rows, dtype int64]" in s


def test_a_huge_value_is_cut_with_a_note():
    text = interpolate("{big}", {"big": "y" * (MAX_CHARS * 3)})
    assert len(text) < MAX_CHARS + 100 and text.endswith(f"({MAX_CHARS * 2} more characters cut)")

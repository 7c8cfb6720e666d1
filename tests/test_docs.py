"""The user docs in docs/ are generated from the code (docs/gen.py); stale docs fail here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

GEN = Path(__file__).resolve().parents[1] / "docs" / "gen.py"


@pytest.fixture(scope="module")
def gen() -> Iterator[ModuleType]:
    # docs/ is not a package: load the script by path, as `python docs/gen.py` would run it.
    spec = importlib.util.spec_from_file_location("mullama_docs_gen", GEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_docs_match_the_code(gen: ModuleType) -> None:
    problems = gen.check()
    assert not problems, "the docs are out of date; run: python docs/gen.py\n" + "\n".join(problems)


def test_only_generated_sections_are_rewritten(gen: ModuleType) -> None:
    text = ("prose before\n<!-- BEGIN GENERATED: a -->\nold\n<!-- END GENERATED: a -->\n"
            "prose between\n<!-- BEGIN GENERATED: b -->\n<!-- END GENERATED: b -->\nprose after\n")
    assert gen.splice(text, {"a": "new a\n", "b": "new b"}, "t.md") == (
        "prose before\n<!-- BEGIN GENERATED: a -->\nnew a\n<!-- END GENERATED: a -->\n"
        "prose between\n<!-- BEGIN GENERATED: b -->\nnew b\n<!-- END GENERATED: b -->\nprose after\n")
    with pytest.raises(gen.DocError, match=r"missing sections \['c'\]"):
        gen.splice(text, {"a": "", "b": "", "c": ""}, "t.md")
    with pytest.raises(gen.DocError, match="unbalanced"):
        gen.splice("<!-- BEGIN GENERATED: a -->\n", {"a": ""}, "t.md")

"""Prompt interpolation that never breaks code.

``{name}``, ``{name.attr}``, ``{In[3]}``, ``{Out[3]}`` and ``{Err[3]}`` are replaced, once, by what
they name in the user's namespace. Anything else in braces stays exactly as written: dict literals,
JSON, f-strings, TypeScript and template syntax pass through, and so does a ``{name}`` that names
nothing (so a code snippet quoting an undefined variable survives). ``{{name}}`` writes a literal
``{name}``. Values are never evaluated beyond attribute access: no calls, no indexing except the
history lists.

jupyter-ai's ``%%ai`` runs the whole prompt through ``str.format``, so a prompt holding
``d = {'a': 1}`` fails; here it is just text.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

MAX_CHARS = 20_000  # one substituted value; a 10 MB object must not become a 10 MB prompt
PREVIEW_ROWS = 20
PREVIEW_COLS = 12

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_HISTORY = r"(?:In|Out|Err)\[-?\d+\]"
_PLACEHOLDER = re.compile(r"\{\{(" + _HISTORY + "|" + _NAME + r")\}\}|\{(" + _HISTORY + "|" + _NAME + r")\}")
_INDEX = re.compile(r"(In|Out|Err)\[(-?\d+)\]")
_MISSING = object()


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """``text`` with its placeholders replaced (see the module docstring)."""

    def replace(m: re.Match[str]) -> str:
        if m.group(1) is not None:  # {{...}}: the escape, written as one brace pair
            return "{" + m.group(1) + "}"
        value = lookup(m.group(2), namespace)
        return m.group(0) if value is _MISSING else render(value)

    return _PLACEHOLDER.sub(replace, text)


def lookup(expr: str, namespace: Mapping[str, Any]) -> Any:
    """What ``expr`` names, or ``_MISSING``."""
    m = _INDEX.fullmatch(expr)
    if m:
        history = namespace.get(m.group(1))
        index = int(m.group(2))
        try:
            return history[index]  # In is a list, Out and Err are dicts keyed by execution count
        except (KeyError, IndexError, TypeError):
            return _MISSING
    head, *attrs = expr.split(".")
    value = namespace.get(head, _MISSING)
    for attr in attrs:
        if value is _MISSING or attr.startswith("_"):
            return _MISSING  # private attributes are not prompt material
        value = getattr(value, attr, _MISSING)
    return value


def render(value: Any) -> str:
    """A value as prompt text: DataFrames as a compact preview, long text cut with a note."""
    text = _frame_preview(value)
    if text is None:
        text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS] + f"\n… ({len(text) - MAX_CHARS} more characters cut)"
    return text


def _frame_preview(value: Any) -> str | None:
    module = type(value).__module__
    if not module.startswith("pandas"):
        return None
    try:
        import pandas as pd
    except ImportError:
        return None
    if isinstance(value, pd.DataFrame):
        shown = value.to_string(max_rows=PREVIEW_ROWS, max_cols=PREVIEW_COLS, show_dimensions=False)
        return f"{shown}\n[DataFrame: {value.shape[0]} rows × {value.shape[1]} columns]"
    if isinstance(value, pd.Series):
        shown = value.to_string(max_rows=PREVIEW_ROWS)
        return f"{shown}\n[Series {value.name!r}: {len(value)} rows, dtype {value.dtype}]"
    return None

"""Markdown to HTML for the chat panel, rendered in the kernel so the browser needs no library (offline).

Raw HTML in a model's answer is escaped, never rendered: the text comes from a model, not from the user.
Code blocks are highlighted with Pygments; the colours come from ``highlight_css``.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(cssclass="highlight")


def code_html(code: str, lang: str | None) -> str:
    try:
        lexer = get_lexer_by_name(lang.strip()) if lang and lang.strip() else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    label = f'<span class="mc-lang">{html.escape(lang.strip())}</span>' if lang and lang.strip() else ""
    return f'<div class="mc-code">{label}{highlight(code, lexer, _FORMATTER)}</div>'


def highlight_css(scope: str) -> str:
    return _FORMATTER.get_style_defs(f"{scope} .highlight")


@lru_cache(maxsize=1)
def _markdown() -> Any:
    try:
        import mistune  # comes with nbconvert, which jupyter_server requires
    except ImportError:
        return None

    class Renderer(mistune.HTMLRenderer):
        def block_code(self, code: str, info: str | None = None) -> str:
            return code_html(code, (info or "").split(None, 1)[0] if info else None)

        def image(self, text: str, url: str, title: str | None = None) -> str:
            # A model's image link would make the browser fetch from anywhere: show it as a link instead.
            return f'<a href="{self.safe_url(url)}">{text or "image"}</a>'

    return mistune.create_markdown(renderer=Renderer(escape=True), plugins=["strikethrough", "table"])


_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def to_html(text: str) -> str:
    """Markdown as HTML; an unclosed code fence (mid-stream) renders as code up to the end."""
    md = _markdown()
    if md is not None:
        return str(md(text))
    # Without mistune: code fences highlighted, the rest as escaped paragraphs.
    out, pos = [], 0
    for m in _FENCE.finditer(text):
        out.append(_paragraphs(text[pos:m.start()]))
        out.append(code_html(m.group(2), m.group(1)))
        pos = m.end()
    out.append(_paragraphs(text[pos:]))
    return "".join(out)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in re.split(r"\n{2,}", text) if p.strip())

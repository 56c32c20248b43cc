"""Markdown to the HTML subset Qt's rich text draws, with highlighted code and Copy links.

Model output is untrusted: raw HTML in it is shown as text, never interpreted, and images are
shown as links (a ``file:`` image would otherwise be read from disk and drawn). Links are
drawn as links; the window opens them only after the user confirms.

Uses markdown-it-py and Pygments when installed; otherwise Qt's own Markdown reader (no code
highlighting) so the window still works.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

try:  # optional: see the module docstring
    from markdown_it import MarkdownIt
except ImportError:  # pragma: no cover - depends on the environment
    MarkdownIt = None  # type: ignore[assignment,misc]
try:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name, guess_lexer
    from pygments.util import ClassNotFound
except ImportError:  # pragma: no cover
    highlight = None

COPY_SCHEME = "enclave-copy"

_TAG = re.compile(r"(<[^>]*>)")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z0-9]+)")
_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_NUMBER = re.compile(r"\d+")
_NO_LINKS_INSIDE = frozenset({"a", "pre", "code"})  # a link, and code the model quoted


@dataclass
class Rendered:
    """HTML for one message and the code blocks its Copy links refer to."""

    html: str
    code_blocks: list[str] = field(default_factory=list)


def _code_html(code: str, lang: str, dark: bool) -> str:
    if highlight is None:
        return f"<pre>{html.escape(code)}</pre>"
    try:
        lexer = get_lexer_by_name(lang) if lang else guess_lexer(code)
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    style = "monokai" if dark else "friendly"
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=style)
    return f"<pre>{highlight(code, lexer, formatter)}</pre>"


def _parser() -> Any:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.enable("strikethrough")
    md.disable("image")
    return md


_MD: Any = _parser() if MarkdownIt is not None else None


def render_markdown(text: str, *, dark: bool = False, block_offset: int = 0) -> Rendered:
    """Render one message.

    Args:
        text: Markdown, as the model wrote it.
        dark: pick a code colour scheme readable on a dark background.
        block_offset: number of code blocks before this message (Copy links are numbered
            across the whole conversation).
    """
    blocks: list[str] = []
    if _MD is None:
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownNoHTML)
        body = doc.toHtml()
        start, end = body.find("<body"), body.rfind("</body>")
        body = body[body.find(">", start) + 1 : end] if start >= 0 else body
        return Rendered(body, blocks)

    tokens = _MD.parse(text)
    frame_bg = "#272822" if dark else "#f6f8fa"
    border = "#555" if dark else "#d0d7de"

    def fence(tokens_: Any, idx: int, _options: Any, _env: Any) -> str:
        token = tokens_[idx]
        code = token.content
        lang = (token.info or "").strip().split(" ")[0]
        number = block_offset + len(blocks)
        blocks.append(code)
        label = html.escape(lang or "code")
        return (
            f"<table width='100%' cellspacing='0' cellpadding='6' "
            f"style='background-color:{frame_bg}; border:1px solid {border}; margin:4px 0;'>"
            f"<tr><td><span style='font-size:small; color:gray'>{label}</span> &nbsp; "
            f"<a href='{COPY_SCHEME}:{number}' title='Copy this code'>Copy</a></td></tr>"
            f"<tr><td>{_code_html(code, lang, dark)}</td></tr></table>"
        )

    renderer = _MD.renderer
    rules = renderer.rules
    saved = rules.get("fence"), rules.get("code_block")
    rules["fence"] = fence
    rules["code_block"] = fence
    try:
        body = renderer.render(tokens, _MD.options, {})
    finally:
        rules["fence"], rules["code_block"] = saved
    body = body.replace("<table>", f"<table border='1' cellspacing='0' cellpadding='4' "
                                   f"style='border-color:{border}; border-collapse:collapse'>")
    return Rendered(body, blocks)


def link_citations(body: str, numbers: Container[int], href: Callable[[int], str]) -> str:
    """Make ``[1]`` (and ``[1, 2]``) in rendered text links to the answer's sources.

    Only numbers the answer has a source for become links, and never inside a link or code:
    ``[1]`` in a code sample is code. ``body`` is HTML this module rendered, so every ``<``
    in it starts a tag (the model's own text was escaped).

    Args:
        body: The rendered answer.
        numbers: The answer's source numbers.
        href: The link for source ``n``.
    """
    def linked(match: re.Match[str]) -> str:
        text = match.group(0)
        if match.group(1).isdigit():  # one number: the whole ``[1]`` is the link
            n = int(match.group(1))
            return f"<a href='{href(n)}'>{text}</a>" if n in numbers else text
        return _NUMBER.sub(
            lambda m: (f"<a href='{href(int(m.group(0)))}'>{m.group(0)}</a>"
                       if int(m.group(0)) in numbers else m.group(0)), text)

    parts = _TAG.split(body)
    inside = 0  # depth of a, pre and code elements around the current text
    for i, part in enumerate(parts):
        if i % 2:  # a tag
            name = _TAG_NAME.match(part)
            if name and name.group(1).lower() in _NO_LINKS_INSIDE:
                inside = max(0, inside + (-1 if part.startswith("</") else 1))
        elif inside == 0 and "[" in part:
            parts[i] = _CITATION.sub(linked, part)
    return "".join(parts)

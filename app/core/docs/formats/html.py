"""HTML with the standard library's parser.

Scripts and styles are dropped. Text a reader of the page would not see (``display:none``,
``visibility:hidden``, the ``hidden`` attribute, zero font size) is kept apart and flagged:
hiding instructions for a model inside a page is a known injection technique.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from app.core.docs.formats.base import Extracted, SectionBuilder, decode_text

_SKIP = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}
_BLOCK = {
    "p", "div", "section", "article", "li", "ul", "ol", "tr", "table", "br", "hr",
    "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "header", "footer", "td", "th",
}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])|opacity\s*:\s*0(?![.\d]*[1-9])",
    re.IGNORECASE,
)


def _is_hidden(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name == "hidden" or (name == "aria-hidden" and (value or "").lower() == "true"):
            return True
        if name == "style" and value and _HIDDEN_STYLE.search(value):
            return True
    return False


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # (tag, skipped, hidden) for each open element.
        self.stack: list[tuple[str, bool, bool]] = []
        self.visible: list[tuple[str | None, str]] = []  # (heading, text) pieces
        self.hidden: list[str] = []
        self.heading: str | None = None
        self._heading_text: list[str] | None = None

    def _state(self) -> tuple[bool, bool]:
        return (
            any(skip for _, skip, _ in self.stack),
            any(hid for _, _, hid in self.stack),
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._emit("\n")
        if tag in _VOID:
            return
        self.stack.append((tag, tag in _SKIP, _is_hidden(attrs)))
        if tag in _HEADINGS and not any(self._state()):
            self._heading_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # Browsers forgive unclosed elements: close everything up to the matching tag.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        if tag in _HEADINGS and self._heading_text is not None:
            # The heading's own text opens the section it names.
            text = "".join(self._heading_text)
            self._heading_text = None
            self.heading = " ".join(text.split()) or self.heading
            self._emit(text)
        if tag in _BLOCK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        self._emit(data)

    def _emit(self, data: str) -> None:
        skipped, hidden = self._state()
        if skipped:
            return
        if hidden:
            self.hidden.append(data)
            return
        if self._heading_text is not None:
            self._heading_text.append(data)
            return
        self.visible.append((self.heading, data))


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_html(data: bytes) -> Extracted:
    """Visible text in sections by heading, then any hidden text as a flagged section."""
    parser = _Parser()
    parser.feed(decode_text(data))
    parser.close()
    builder = SectionBuilder()
    current: str | None = None
    pieces: list[str] = []
    for heading, piece in parser.visible:
        if heading != current:
            builder.add(_tidy("".join(pieces)), heading=current)
            current, pieces = heading, []
        pieces.append(piece)
    builder.add(_tidy("".join(pieces)), heading=current)
    warnings = []
    hidden = _tidy(" ".join(parser.hidden))
    if hidden:
        builder.add(hidden, heading="hidden text", hidden=True)
        warnings.append(f"hidden text (display:none or similar, {len(hidden)} characters)")
    return Extracted(builder.sections, warnings)

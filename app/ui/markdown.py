"""The conversation's HTML: Markdown in the subset Qt's rich text draws, and message cards.

Answers become HTML with highlighted code and Copy links; each message sits in a card (a
one-cell table: Qt's rich text has no rounded boxes) in the design's colours.

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
from functools import cache
from typing import Any

from app.core.conversation_view import ConversationView, Versions
from app.core.reasoning import split_reasoning
from app.ui.citations import SOURCE_SCHEME, ShownSource, sources_html
from app.ui.design import USER_INDENT_PERCENT, Palette, palette
from app.ui.footer import footer_for_message

COPY_SCHEME = "enclave-copy"
ACTION_SCHEME = "enclave-action"  # enclave-action:<verb>:<message index>

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
    # Imported here, not at start-up: Pygments is needed only once an answer has code.
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name, guess_lexer
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - optional: see the module docstring
        return f"<pre>{html.escape(code)}</pre>"
    try:
        lexer = get_lexer_by_name(lang) if lang else guess_lexer(code)
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    style = "monokai" if dark else "friendly"
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=style)
    return f"<pre>{highlight(code, lexer, formatter)}</pre>"


@cache
def _parser() -> Any:
    """The Markdown parser, built on the first answer drawn (not at start-up), or ``None``."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover - optional: see the module docstring
        return None
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.enable("strikethrough")
    md.disable("image")
    return md


def render_markdown(text: str, *, dark: bool = False, block_offset: int = 0) -> Rendered:
    """Render one message.

    Args:
        text: Markdown, as the model wrote it.
        dark: pick a code colour scheme readable on a dark background.
        block_offset: number of code blocks before this message (Copy links are numbered
            across the whole conversation).
    """
    blocks: list[str] = []
    parser = _parser()
    if parser is None:
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownNoHTML)
        body = doc.toHtml()
        start, end = body.find("<body"), body.rfind("</body>")
        body = body[body.find(">", start) + 1 : end] if start >= 0 else body
        return Rendered(body, blocks)

    tokens = parser.parse(text)
    colours = palette(dark)
    frame_bg, border, muted = colours.code, colours.card_border, colours.muted

    def fence(tokens_: Any, idx: int, _options: Any, _env: Any) -> str:
        token = tokens_[idx]
        code = token.content
        lang = (token.info or "").strip().split(" ")[0]
        number = block_offset + len(blocks)
        blocks.append(code)
        label = html.escape(lang or "code")
        return (
            f"<table width='100%' cellspacing='0' cellpadding='8' "
            f"style='background-color:{frame_bg}; border:1px solid {border}; margin:6px 0;'>"
            f"<tr><td><span style='font-size:small; color:{muted}'>{label}</span> &nbsp; "
            f"<a href='{COPY_SCHEME}:{number}' title='Copy this code' "
            f"style='font-size:small; color:{muted}; text-decoration:none'>Copy</a></td></tr>"
            f"<tr><td>{_code_html(code, lang, dark)}</td></tr></table>"
        )

    renderer = parser.renderer
    rules = renderer.rules
    saved = rules.get("fence"), rules.get("code_block")
    rules["fence"] = fence
    rules["code_block"] = fence
    try:
        body = renderer.render(tokens, parser.options, {})
    finally:
        rules["fence"], rules["code_block"] = saved
    body = body.replace("<table>", f"<table border='1' cellspacing='0' cellpadding='6' "
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


# --- message cards -----------------------------------------------------------------------

ICON_SCHEME = "enclave-icon"  # enclave-icon:<name>: a bundled icon, tinted (see ChatView)


def muted_link(href: str, text: str, tip: str, colours: Palette, icon: str = "") -> str:
    """A small, quiet action link (Copy, Regenerate, Edit), with an icon before its words."""
    image = (f"<img src='{ICON_SCHEME}:{icon}' width='14' height='14' "
             f"style='vertical-align:middle'>&nbsp;" if icon else "")
    return (f"<a href='{href}' title='{html.escape(tip, quote=True)}' "
            f"style='color:{colours.muted}; text-decoration:none'>{image}{text}</a>")


def role_label(role: str, colours: Palette, status: str = "") -> str:
    """The small muted line at the top of a card: an icon and who speaks."""
    icon, name = ("user", "You") if role == "user" else ("assistant", "Assistant")
    return (f"<p style='margin:0 0 4px 0; font-size:small; color:{colours.muted}'>"
            f"<img src='{ICON_SCHEME}:{icon}' width='16' height='16' "
            f"style='vertical-align:middle'>&nbsp; {name}"
            f"{html.escape(status)}</p>")


def card_html(role: str, inner: str, dark: bool, anchor: str = "") -> str:
    """``inner`` in the card of a question (tinted, indented) or an answer."""
    colours = palette(dark)
    user = role == "user"
    background = colours.user_card if user else colours.card
    border = colours.user_border if user else colours.card_border
    top = 0 if user else 14  # a question's outer table holds its margin
    card = (f"<table width='100%' cellspacing='0' cellpadding='14' bgcolor='{background}' "
            f"style='margin-top:{top}px; border:1px solid {border}; border-style:solid'>"
            f"<tr><td>{anchor}{inner}</td></tr></table>")
    if not user:
        return card
    # An empty first cell indents the question, so questions and answers read apart.
    return (f"<table width='100%' cellspacing='0' cellpadding='0' style='margin-top:14px'>"
            f"<tr><td width='{USER_INDENT_PERCENT}%'></td><td>{card}</td></tr></table>")


def thinking_html(href: str, thinking: str, expanded: bool, still_open: bool,
                  colours: Palette) -> str:
    """The "Thinking" disclosure of an answer, and its reasoning when expanded."""
    mark = "▾" if expanded else "▸"
    words = len(thinking.split())
    note = " (stopped)" if still_open else ""
    tip = "Hide the reasoning" if expanded else "Show the model's reasoning"
    link = (f"<a href='{href}' title='{tip}' style='color:{colours.muted}; "
            f"text-decoration:none'>{mark} Thinking</a>")
    line = (f"<p style='font-size:small; color:{colours.muted}'>{link} &nbsp;"
            f"{words} words{note}</p>")
    if not expanded:
        return line
    text = html.escape(thinking).replace("\n", "<br>") or "(no reasoning was written)"
    return (f"{line}<table width='100%' cellspacing='0' cellpadding='10' "
            f"bgcolor='{colours.code}' style='margin-bottom:6px'><tr><td>"
            f"<span style='color:{colours.muted}'>{text}</span></td></tr></table>")


# --- messages ----------------------------------------------------------------------------


@dataclass
class ShownMessage:
    """One message as the view shows it (the branch the user is looking at)."""

    role: str  # "user" or "assistant"
    text: str
    message_id: int | None = None
    parent_id: int | None = None
    footer: str = ""
    complete: bool = True
    sources: tuple[ShownSource, ...] = ()  # an answer's numbered sources, in [n] order
    versions: Versions | None = None  # None: not saved, or not known yet


def shown_from_view(view: ConversationView) -> list[ShownMessage]:
    """The core's view of a conversation as the chat view shows it (questions and answers).

    What each cited document has become since is not known yet: that needs the document
    index (see ``ChatView.set_source_status``).
    """
    shown = []
    for item in view.messages:
        m = item.message
        if m.role not in ("user", "assistant"):
            continue
        sources = tuple(ShownSource(s) for s in item.sources)
        shown.append(ShownMessage(m.role, m.text, m.id, m.parent_id, footer_for_message(m),
                                  m.complete, sources, item.versions))
    return shown


def message_html(shown: ShownMessage, index: int, *, dark: bool, expanded: bool,
                 block_offset: int) -> Rendered:
    """One message's card: its words, reasoning (collapsed unless ``expanded``), actions.

    Args:
        shown: The message.
        index: Its place in the conversation (action and source links carry it).
        dark: Draw in the dark theme's colours.
        expanded: Show the answer's reasoning, not only the "Thinking" link.
        block_offset: Code blocks before this message (Copy links number them all).
    """
    colours = palette(dark)
    anchor = f"<a name='m{shown.message_id}'></a>" if shown.message_id else ""
    versions = versions_html(index, shown.versions, colours)
    if shown.role == "user":
        body = html.escape(shown.text).replace("\n", "<br>")
        edit = muted_link(f"{ACTION_SCHEME}:edit:{index}", "Edit", "Edit and resend",
                          colours, "edit")
        inner = (f"{role_label('user', colours)}<p style='margin:0'>{body}</p>"
                 f"<p style='font-size:small; margin:8px 0 0 0'>{edit}{versions}</p>")
        return Rendered(card_html("user", inner, dark, anchor))
    reasoned = split_reasoning(shown.text)
    thinking = ""
    if reasoned.has_thinking:
        thinking = thinking_html(f"{ACTION_SCHEME}:thinking:{index}", reasoned.thinking,
                                 expanded, reasoned.open, colours)
    rendered = render_markdown(reasoned.answer, dark=dark, block_offset=block_offset)
    body = rendered.html
    sources = ""
    if shown.sources:
        body = link_citations(body, {s.n for s in shown.sources},
                              lambda n: f"{SOURCE_SCHEME}:{index}:{n}")
        sources = sources_html(index, shown.sources)
    actions = (muted_link(f"{ACTION_SCHEME}:copy:{index}", "Copy", "Copy this answer",
                          colours, "copy")
               + " &nbsp;&nbsp; "
               + muted_link(f"{ACTION_SCHEME}:regenerate:{index}", "Regenerate",
                            "Answer this again", colours, "regenerate"))
    inner = (f"{role_label('assistant', colours)}{thinking}{body}{sources}"
             f"<p style='color:{colours.muted}; font-size:small'>{html.escape(shown.footer)}"
             f"</p><p style='font-size:small; margin:0'>{actions}{versions}</p>")
    return Rendered(card_html("assistant", inner, dark, anchor), rendered.code_blocks)


def versions_html(index: int, versions: Versions | None, colours: Palette) -> str:
    """`` ‹ 2/3 ›``: an arrow is a link where there is a version that way."""
    if versions is None or versions.count < 2:
        return ""

    def arrow(verb: str, mark: str, target: int | None, tip: str) -> str:
        if target is None:
            return f"<span style='color:{colours.disabled}'>{mark}</span>"
        return f"<a href='{ACTION_SCHEME}:{verb}:{index}' title='{tip}'>{mark}</a>"

    return (f" &nbsp; <span style='color:{colours.muted}'>"
            f"{arrow('previous', '‹', versions.previous, 'Previous version')} "
            f"{versions.index}/{versions.count} "
            f"{arrow('next', '›', versions.next, 'Next version')}</span>")


def warm_renderer() -> None:
    """Import the Markdown and highlighting libraries ahead of the first answer.

    Start-up no longer imports them (≈50 ms); a background thread calls this once the window
    is up, so the first answer drawn does not pay for the import on the GUI thread.
    """
    _parser()
    try:
        import pygments.formatters
        import pygments.lexers  # noqa: F401 - imported for its side effect, the import
    except ImportError:  # pragma: no cover - optional
        pass

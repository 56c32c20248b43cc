"""The conversation: messages appended as they stream, Markdown once an answer is done.

Streaming appends plain text at the end of the document (no re-layout of earlier messages);
when the answer completes, only that answer's range is replaced by its Markdown rendering.
Actions on a message (Copy, Regenerate, Edit, the ``‹ 1/2 ›`` version arrows) are links the
window handles; Copy, Regenerate and Edit also exist as menu actions with a shortcut, for
keyboard and screen-reader users. Each answer lists its own sources under it; ``[n]`` in the
line and in the answer's text opens that answer's passage ``n``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QTextEdit, QWidget

from app.core.conversation_view import ConversationView, Versions
from app.ui.citations import (
    SOURCE_SCHEME,
    PassageDialog,
    PassageViewer,
    ShownSource,
    sources_html,
)
from app.ui.footer import footer_for_message
from app.ui.markdown import COPY_SCHEME, link_citations, render_markdown

ACTION_SCHEME = "enclave-action"
# The sidebar's colour for a search hit; the text on it is drawn dark so that it reads the
# same in the light and the dark theme.
HIGHLIGHT_BACKGROUND = "#ffe066"
HIGHLIGHT_TEXT = "#000000"


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


class ChatView(QTextBrowser):
    """Read-only view of one conversation."""

    link_requested = Signal(QUrl)  # an ordinary link in an answer: the window asks first
    # "copy" | "regenerate" | "edit" | "previous" | "next" (a version), message index;
    # "copy-code", code block index
    action_requested = Signal(str, int)
    passage_opened = Signal(object)  # the PassageDialog a source link just opened

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversation")
        self.setAccessibleDescription("Messages of the open conversation; links need Enter.")
        self.setOpenLinks(False)  # links open only after the user confirms (main window)
        self.anchorClicked.connect(self._anchor)
        self._answer_start: int | None = None
        self.messages: list[ShownMessage] = []
        self.code_blocks: list[str] = []
        self.dark = False
        self.highlighted_words: list[str] = []
        self.passages = PassageViewer(self)
        self.passages.opened.connect(self.passage_opened)

    # --- whole conversation ---------------------------------------------------------------

    def clear_messages(self) -> None:
        """Empty the view."""
        self.messages = []
        self.code_blocks = []
        self._answer_start = None
        self._clear_highlight()
        self.clear()

    def set_messages(self, messages: list[ShownMessage]) -> None:
        """Show a whole branch at once (one layout pass, not one per message)."""
        self.messages = list(messages)
        self.code_blocks = []
        self._answer_start = None
        self._clear_highlight()
        self.setHtml("".join(self._entry_html(i) for i in range(len(self.messages))))
        self._scroll_to_end()

    def rerender(self) -> None:
        """Draw again (the theme changed); highlighted words stay highlighted."""
        if self._answer_start is None:
            words = self.highlighted_words
            self.set_messages(self.messages)
            self.highlight(words)

    def set_versions(self, versions: Mapping[int, Versions]) -> None:
        """Give the shown messages their versions by id; draw again only if one changed."""
        changed = False
        for shown in self.messages:
            new = versions.get(shown.message_id) if shown.message_id is not None else None
            if new is not None:
                drawn = shown.versions.label() if shown.versions is not None else ""
                changed = changed or new.label() != drawn
                shown.versions = new
        if changed and self._answer_start is None:
            self.set_messages(self.messages)

    def set_source_status(self, states: Mapping[tuple[int, int], str]) -> None:
        """Say what each cited document has become, by ``(answer id, n)``, as the core found.

        Drawn again only if a state changed, where the reader was, with the same highlights.
        """
        changed = False
        for shown in self.messages:
            if shown.message_id is None:
                continue
            sources = tuple(replace(s, status=states.get((shown.message_id, s.n), s.status))
                            for s in shown.sources)
            changed = changed or sources != shown.sources
            shown.sources = sources
        # While an answer streams the view is not redrawn (that would cut the stream); the
        # states are kept and drawn with the next whole redraw.
        if changed and self._answer_start is None:
            at, words = self.verticalScrollBar().value(), self.highlighted_words
            self.set_messages(self.messages)
            self.highlight(words)
            self.verticalScrollBar().setValue(at)

    def highlight(self, words: Sequence[str]) -> None:
        """Mark ``words`` wherever the conversation shows them (a search hit was opened).

        The marks are drawn over the text, not into it, and go with the next
        ``set_messages`` or ``clear_messages``.
        """
        self.highlighted_words = [w for w in (word.strip() for word in words) if w]
        mark = QTextCharFormat()
        mark.setBackground(QColor(HIGHLIGHT_BACKGROUND))
        mark.setForeground(QColor(HIGHLIGHT_TEXT))
        doc = self.document()
        selections = []
        for word in self.highlighted_words:
            cursor = doc.find(word, 0)
            while not cursor.isNull():
                if not cursor.charFormat().isAnchor():  # not the message's action links
                    selection = QTextEdit.ExtraSelection()
                    selection.cursor = cursor
                    selection.format = mark
                    selections.append(selection)
                cursor = doc.find(word, cursor)
        self.setExtraSelections(selections)

    def _clear_highlight(self) -> None:
        self.highlighted_words = []
        self.setExtraSelections([])

    def open_source(self, index: int, n: int) -> PassageDialog | None:
        """Open source ``n`` of the answer at ``index`` (``None``: it has no such source)."""
        if not 0 <= index < len(self.messages):
            return None
        for shown in self.messages[index].sources:
            if shown.n == n:
                return self.passages.open(shown)
        return None

    def scroll_to_message(self, message_id: int) -> None:
        """Bring a message into view (a search hit)."""
        self.scrollToAnchor(f"m{message_id}")

    # --- one message at a time ------------------------------------------------------------

    def _cursor_at_end(self) -> QTextCursor:
        cursor = self.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _new_block(self) -> QTextCursor:
        """A cursor on a fresh, unformatted paragraph at the end."""
        cursor = self._cursor_at_end()
        if not self.document().isEmpty():
            cursor.insertBlock()
        cursor.setCharFormat(QTextCharFormat())
        return cursor

    def add_user_message(
        self, text: str, message_id: int | None = None, parent_id: int | None = None
    ) -> None:
        """Show the user's message."""
        self.messages.append(ShownMessage("user", text, message_id, parent_id))
        self._new_block().insertHtml(self._entry_html(len(self.messages) - 1))
        self._scroll_to_end()

    def begin_answer(self, who: str) -> None:
        """Open a block for an answer that is about to stream."""
        cursor = self._new_block()
        cursor.insertHtml(f"<p style='margin-top:10px'><b>{html.escape(who)}</b></p>")
        cursor = self._new_block()
        self._answer_start = cursor.position()
        self._scroll_to_end()

    def append_stream(self, text: str) -> None:
        """Append streamed text to the open answer."""
        if not text or self._answer_start is None:
            return
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 4
        self._cursor_at_end().insertText(text)
        if follow:
            self._scroll_to_end()

    def end_answer(
        self, text: str, footer: str, message_id: int | None = None,
        parent_id: int | None = None, complete: bool = True, sources: Sequence[Any] = (),
    ) -> None:
        """Replace the streamed text (and its header) by the rendered answer and its footer.

        ``sources`` are the answer's numbered sources as the turn returned them (its
        documents are current: they were just read).
        """
        self.messages.append(ShownMessage("assistant", text, message_id, parent_id, footer,
                                          complete, tuple(ShownSource(s) for s in sources)))
        if self._answer_start is not None:
            cursor = self.textCursor()
            cursor.setPosition(self._answer_start)
            # Back over the header block written by begin_answer.
            cursor.movePosition(QTextCursor.MoveOperation.PreviousBlock)
            cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            cursor.setCharFormat(QTextCharFormat())
            cursor.insertHtml(self._entry_html(len(self.messages) - 1))
            self._answer_start = None
        else:
            self._new_block().insertHtml(self._entry_html(len(self.messages) - 1))
        self._scroll_to_end()

    def set_user_id(self, message_id: int | None) -> None:
        """Give the newest user message the id the store assigned (known once sent)."""
        for shown in reversed(self.messages):
            if shown.role == "user":
                if shown.message_id is None:
                    shown.message_id = message_id
                return

    def truncate(self, count: int) -> None:
        """Keep only the first ``count`` messages (editing or regenerating starts a branch)."""
        self.set_messages(self.messages[:count])

    def answer_text(self) -> str:
        """Text streamed so far into the open answer."""
        if self._answer_start is None:
            return ""
        cursor = self.textCursor()
        cursor.setPosition(self._answer_start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        return cursor.selectedText().replace("\u2029", "\n")

    def streaming(self) -> bool:
        """Whether an answer is open."""
        return self._answer_start is not None

    def last_answer(self) -> str:
        """The newest finished answer's text, or ``""``."""
        for shown in reversed(self.messages):
            if shown.role == "assistant":
                return shown.text
        return ""

    # --- rendering ------------------------------------------------------------------------

    def _entry_html(self, index: int) -> str:
        shown = self.messages[index]
        anchor = f"<a name='m{shown.message_id}'></a>" if shown.message_id else ""
        versions = self._versions_html(index, shown.versions)
        if shown.role == "user":
            body = html.escape(shown.text).replace("\n", "<br>")
            actions = f"<a href='{ACTION_SCHEME}:edit:{index}' title='Edit and resend'>Edit</a>"
            return (
                f"<p style='margin-top:12px'>{anchor}<b>You</b></p><p>{body}</p>"
                f"<p style='font-size:small'>{actions}{versions}</p>"
            )
        rendered = render_markdown(shown.text, dark=self.dark, block_offset=len(self.code_blocks))
        self.code_blocks.extend(rendered.code_blocks)
        body = rendered.html
        sources = ""
        if shown.sources:
            body = link_citations(body, {s.n for s in shown.sources},
                                  lambda n: f"{SOURCE_SCHEME}:{index}:{n}")
            sources = sources_html(index, shown.sources)
        actions = (
            f"<a href='{ACTION_SCHEME}:copy:{index}' title='Copy this answer'>Copy</a>"
            f" &nbsp; <a href='{ACTION_SCHEME}:regenerate:{index}' "
            f"title='Answer this again'>Regenerate</a>"
        )
        footer = html.escape(shown.footer)
        return (
            f"<p style='margin-top:10px'>{anchor}<b>Assistant</b></p>{body}{sources}"
            f"<p style='color:gray; font-size:small'>{footer}</p>"
            f"<p style='font-size:small'>{actions}{versions}</p>"
        )

    @staticmethod
    def _versions_html(index: int, versions: Versions | None) -> str:
        """`` ‹ 2/3 ›``: an arrow is a link where there is a version that way."""
        if versions is None or versions.count < 2:
            return ""

        def arrow(verb: str, mark: str, target: int | None, tip: str) -> str:
            if target is None:
                return f"<span style='color:gray'>{mark}</span>"
            return f"<a href='{ACTION_SCHEME}:{verb}:{index}' title='{tip}'>{mark}</a>"

        return (f" &nbsp; {arrow('previous', '‹', versions.previous, 'Previous version')} "
                f"{versions.index}/{versions.count} "
                f"{arrow('next', '›', versions.next, 'Next version')}")

    def _anchor(self, url: QUrl) -> None:
        scheme = url.scheme()
        if scheme == COPY_SCHEME:
            self.action_requested.emit("copy-code", int(url.path() or -1))
        elif scheme == SOURCE_SCHEME:
            index, _, n = url.path().partition(":")
            if index.isdigit() and n.isdigit():
                self.open_source(int(index), int(n))
        elif scheme == ACTION_SCHEME:
            verb, _, index = url.path().partition(":")
            if index.isdigit():
                self.action_requested.emit(verb, int(index))
        else:
            self.link_requested.emit(url)

    def _scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

"""The conversation: message cards, appended as they stream, Markdown once an answer is done.

Each message is a card (``app.ui.markdown``) in a centred column of readable width. Streaming
appends plain text into the open answer's card (``app.ui.message_cards``), in the finished
answer's font and colour; when it completes, that card is replaced by its rendering. Reasoning
(``app.core.reasoning``) is never drawn as answer text: a muted "Thinking…" count stands for
it while it streams, and a finished answer keeps it collapsed under "Thinking".
Actions on a message (Copy, Regenerate, Edit, the ``‹ 1/2 ›`` version arrows) are links the
window handles; Copy, Regenerate and Edit also exist as menu actions with a shortcut, for
keyboard and screen-reader users. Each answer lists its own sources under it; ``[n]`` in the
line and in the answer's text opens that answer's passage ``n``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import (
    QPaintEvent,
    QResizeEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QTextBrowser, QWidget

from app.core.conversation_view import Versions
from app.core.reasoning_stream import ReasoningStream
from app.ui import message_cards as cards
from app.ui.citations import SOURCE_SCHEME, PassageDialog, PassageViewer, ShownSource
from app.ui.design import CONTENT_MAX_WIDTH, SPACE_L, palette
from app.ui.markdown import (
    ACTION_SCHEME,
    COPY_SCHEME,
    ICON_SCHEME,
    ShownMessage,
    message_html,
    shown_from_view,
)
from app.ui.theme import icon_image, theme_events

__all__ = ["ACTION_SCHEME", "ChatView", "ShownMessage", "shown_from_view"]
_STREAM_MARK = "\u2063"  # an invisible placeholder where the streamed text begins


class ChatView(QTextBrowser):
    """Read-only view of one conversation."""

    link_requested = Signal(QUrl)  # an ordinary link in an answer: the window asks first
    # "copy" | "regenerate" | "edit" | "previous" | "next" (a version), message index;
    # "copy-code", code block index
    action_requested = Signal(str, int)
    passage_opened = Signal(object)  # the PassageDialog a source link just opened

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chat-view")
        self.setAccessibleName("Conversation")
        self.setAccessibleDescription("Messages of the open conversation; links need Enter.")
        self.setOpenLinks(False)  # links open only after the user confirms (main window)
        self.anchorClicked.connect(self._anchor)
        self.messages: list[ShownMessage] = []
        self.code_blocks: list[str] = []
        self.dark = False
        self.highlighted_words: list[str] = []
        self.passages = PassageViewer(self)
        self.passages.opened.connect(self.passage_opened)
        self.expanded: set[object] = set()  # messages whose reasoning is shown (see _key)
        # The open answer: where its card starts, the raw text, and cursors into the card.
        # _reasoner: the core's splitter (it holds back a marker cut between two pieces);
        # _thought: the reasoning so far; _stream: where streamed text goes; _body: where
        # the answer begins; _label: the role label's length (the "Thinking…" words follow).
        self._card_start: int | None = None
        self._label = 0
        self._raw, self._thought, self._reasoner = "", "", ReasoningStream()
        self._stream: QTextCursor | None = None
        self._body: QTextCursor | None = None
        theme_events().changed.connect(self._theme_changed)
        self._apply_style()
        cards.warm_renderer_later()

    # --- theme and layout -----------------------------------------------------------------

    def _theme_changed(self, dark: bool) -> None:
        self.dark = dark
        self.rerender()

    def _apply_style(self) -> None:
        accent = palette(self.dark).accent
        self.document().setDefaultStyleSheet(f"a {{ color: {accent}; text-decoration: none; }}")

    def _fit_width(self) -> None:
        """Centre the text in a column no wider than reads well (the window may be wider)."""
        side = max(SPACE_L, (self.viewport().width() - CONTENT_MAX_WIDTH) // 2)
        root = self.document().rootFrame()
        frame = root.frameFormat()
        if frame.leftMargin() != side or frame.rightMargin() != side:
            frame.setLeftMargin(side)
            frame.setRightMargin(side)
            frame.setTopMargin(SPACE_L / 2)
            frame.setBottomMargin(SPACE_L)
            root.setFrameFormat(frame)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        """Keep the column centred at its readable width."""
        super().resizeEvent(event)
        self._fit_width()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        """The streaming answer's card is painted behind its text (``app.ui.message_cards``)."""
        if self._card_start is not None:
            cards.paint_streaming_card(self, self._card_start, self.dark)
        super().paintEvent(event)

    def loadResource(self, kind: int, url: QUrl | str) -> object:  # noqa: N802 - Qt API
        """Icons in the cards are the bundled ones, tinted for the theme; nothing else loads."""
        url = QUrl(url)
        if url.scheme() == ICON_SCHEME and kind == QTextDocument.ResourceType.ImageResource:
            colours = palette(self.dark)
            colour = colours.accent if url.path() == "assistant" else colours.muted
            return icon_image(url.path(), colour, 16)
        return None  # model text can name no file or page to read (its images are links)

    # --- whole conversation ---------------------------------------------------------------

    def clear_messages(self) -> None:
        """Empty the view."""
        self.messages = []
        self.code_blocks = []
        self._end_stream()
        self._clear_highlight()
        self.clear()
        self._fit_width()

    def set_messages(self, messages: list[ShownMessage]) -> None:
        """Show a whole branch at once (one layout pass, not one per message)."""
        self.messages = list(messages)
        self.code_blocks = []
        self._end_stream()
        self._clear_highlight()
        self._apply_style()
        self.setHtml("".join(self._entry_html(i) for i in range(len(self.messages))))
        self._fit_width()
        self._scroll_to_end()

    def rerender(self) -> None:
        """Draw again (the theme changed); highlighted words stay highlighted."""
        if self._stream is None:
            self._redraw()

    def _redraw(self) -> None:
        """Draw again where the reader was, with the same highlights."""
        at, words = self.verticalScrollBar().value(), self.highlighted_words
        self.set_messages(self.messages)
        self.highlight(words)
        self.verticalScrollBar().setValue(at)

    def set_versions(self, versions: Mapping[int, Versions]) -> None:
        """Give the shown messages their versions by id; draw again only if one changed."""
        changed = False
        for shown in self.messages:
            new = versions.get(shown.message_id) if shown.message_id is not None else None
            if new is not None:
                drawn = shown.versions.label() if shown.versions is not None else ""
                changed = changed or new.label() != drawn
                shown.versions = new
        if changed and self._stream is None:
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
        if changed and self._stream is None:
            self._redraw()

    def highlight(self, words: Sequence[str]) -> None:
        """Mark ``words`` wherever the conversation shows them (a search hit was opened).

        The marks are drawn over the text, not into it, and go with the next
        ``set_messages`` or ``clear_messages``.
        """
        self.highlighted_words = [w for w in (word.strip() for word in words) if w]
        self.setExtraSelections(cards.word_marks(self.document(), self.highlighted_words))

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

    def toggle_thinking(self, index: int) -> bool:
        """Show or hide the reasoning of the answer at ``index``; returns whether it is shown.

        Kept per message across redraws; not while an answer streams (a redraw would cut it).
        """
        if not 0 <= index < len(self.messages) or self._stream is not None:
            return self.thinking_shown(index)
        key = self._key(index)
        self.expanded.symmetric_difference_update({key})
        self._redraw()
        return key in self.expanded

    def thinking_shown(self, index: int) -> bool:
        """Whether the reasoning of the message at ``index`` is expanded."""
        return 0 <= index < len(self.messages) and self._key(index) in self.expanded

    def _key(self, index: int) -> object:
        shown = self.messages[index]
        return shown.message_id if shown.message_id is not None else ("unsaved", index)

    # --- one message at a time ------------------------------------------------------------

    def _new_block(self) -> QTextCursor:
        """A cursor on a fresh, unformatted paragraph at the end."""
        cursor = self.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
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
        """Open a card for an answer that is about to stream (``who``: the model)."""
        self._card_start = cards.open_streaming_card(self.textCursor(), who, _STREAM_MARK,
                                                     self.dark)
        mark = self.document().find(_STREAM_MARK, self._card_start)
        mark.removeSelectedText()  # the stream goes where the placeholder was, in its style
        self._stream = QTextCursor(mark)
        self._body = QTextCursor(mark)
        self._body.setKeepPositionOnInsert(True)
        self._label = mark.block().previous().length() - 1  # the role label's characters
        self._raw, self._thought, self._reasoner = "", "", ReasoningStream()
        self._scroll_to_end()

    def append_stream(self, text: str) -> None:
        """Append streamed text to the open answer (its reasoning only as a count)."""
        if not text or self._stream is None:
            return
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 4
        self._raw += text
        thought, was_thinking = len(self._thought), self._reasoner.thinking
        for piece in self._reasoner.feed(text):  # only what it is sure of; each piece once
            if piece.kind == "answer":
                self._stream.insertText(piece.text)
            else:
                self._thought += piece.text
            if piece.kind == "retracted" and self._body is not None:
                # A lone closing marker: what was drawn as answer was reasoning.
                self._stream.setPosition(self._body.position(), QTextCursor.MoveMode.KeepAnchor)
                self._stream.removeSelectedText()
        if len(self._thought) > thought or self._reasoner.thinking != was_thinking:
            self._draw_thinking_count()
        if follow:
            self._scroll_to_end()

    def _draw_thinking_count(self) -> None:
        """The reasoning's word count, in place of the words after the role label."""
        if self._body is None:
            return
        words = len(self._thought.split())
        status = QTextCursor(self._body.block().previous())
        status.setPosition(status.position() + self._label)
        status.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
        status.insertText(f" · Thinking… {words} words" if self._reasoner.thinking
                          else f" · Thought ({words} words)")

    def end_answer(
        self, text: str, footer: str, message_id: int | None = None,
        parent_id: int | None = None, complete: bool = True, sources: Sequence[Any] = (),
    ) -> None:
        """Replace the streamed card by the rendered answer and its footer.

        ``sources`` are the answer's numbered sources as the turn returned them (its
        documents are current: they were just read).
        """
        self.messages.append(ShownMessage("assistant", text, message_id, parent_id, footer,
                                          complete, tuple(ShownSource(s) for s in sources)))
        if self._card_start is not None:
            cursor = self.textCursor()
            cursor.setPosition(self._card_start)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            cursor.setBlockFormat(QTextBlockFormat())  # not the streaming card's margins
            cursor.setCharFormat(QTextCharFormat())
            self._end_stream()
            cursor.insertHtml(self._entry_html(len(self.messages) - 1))
        else:
            self._new_block().insertHtml(self._entry_html(len(self.messages) - 1))
        self._scroll_to_end()

    def _end_stream(self) -> None:
        self._card_start = None
        self._stream = self._body = None
        self._raw, self._thought, self._reasoner = "", "", ReasoningStream()

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
        """Text streamed so far into the open answer, exactly as it came (reasoning too)."""
        return self._raw if self._stream is not None else ""

    def streaming(self) -> bool:
        """Whether an answer is open."""
        return self._stream is not None

    def last_answer(self) -> str:
        """The newest finished answer's text, or ``""``."""
        for shown in reversed(self.messages):
            if shown.role == "assistant":
                return shown.text
        return ""

    # --- rendering ------------------------------------------------------------------------

    def _entry_html(self, index: int) -> str:
        key = self._key(index)
        rendered = message_html(self.messages[index], index, dark=self.dark,
                                expanded=key in self.expanded,
                                block_offset=len(self.code_blocks))
        self.code_blocks.extend(rendered.code_blocks)
        return rendered.html

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
            if verb == "thinking" and index.isdigit():
                self.toggle_thinking(int(index))
            elif index.isdigit():
                self.action_requested.emit(verb, int(index))
        else:
            self.link_requested.emit(url)

    def _scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

"""The conversation: messages appended as they stream, Markdown once an answer is done.

Streaming appends plain text at the end of the document (no re-layout of earlier messages);
when the answer completes, only that answer's range is replaced by its Markdown rendering.
Actions on a message (Copy, Regenerate, Edit) are links the window handles; every one of them
also exists as a menu action with a shortcut, for keyboard and screen-reader users.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from app.ui.markdown import COPY_SCHEME, render_markdown

ACTION_SCHEME = "enclave-action"


@dataclass
class ShownMessage:
    """One message as the view shows it (the branch the user is looking at)."""

    role: str  # "user" or "assistant"
    text: str
    message_id: int | None = None
    parent_id: int | None = None
    footer: str = ""
    complete: bool = True


class ChatView(QTextBrowser):
    """Read-only view of one conversation."""

    link_requested = Signal(QUrl)  # an ordinary link in an answer: the window asks first
    action_requested = Signal(str, int)  # "copy" | "regenerate" | "edit", message index

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

    # --- whole conversation ---------------------------------------------------------------

    def clear_messages(self) -> None:
        """Empty the view."""
        self.messages = []
        self.code_blocks = []
        self._answer_start = None
        self.clear()

    def set_messages(self, messages: list[ShownMessage]) -> None:
        """Show a whole branch at once (one layout pass, not one per message)."""
        self.messages = list(messages)
        self.code_blocks = []
        self._answer_start = None
        self.setHtml("".join(self._entry_html(i) for i in range(len(self.messages))))
        self._scroll_to_end()

    def rerender(self) -> None:
        """Draw again (the theme changed)."""
        if self._answer_start is None:
            self.set_messages(self.messages)

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
        parent_id: int | None = None, complete: bool = True,
    ) -> None:
        """Replace the streamed text (and its header) by the rendered answer and its footer."""
        self.messages.append(ShownMessage("assistant", text, message_id, parent_id, footer,
                                          complete))
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
        if shown.role == "user":
            body = html.escape(shown.text).replace("\n", "<br>")
            actions = f"<a href='{ACTION_SCHEME}:edit:{index}' title='Edit and resend'>Edit</a>"
            return (
                f"<p style='margin-top:12px'>{anchor}<b>You</b></p><p>{body}</p>"
                f"<p style='font-size:small'>{actions}</p>"
            )
        rendered = render_markdown(shown.text, dark=self.dark, block_offset=len(self.code_blocks))
        self.code_blocks.extend(rendered.code_blocks)
        actions = (
            f"<a href='{ACTION_SCHEME}:copy:{index}' title='Copy this answer'>Copy</a>"
            f" &nbsp; <a href='{ACTION_SCHEME}:regenerate:{index}' "
            f"title='Answer this again'>Regenerate</a>"
        )
        footer = html.escape(shown.footer)
        return (
            f"<p style='margin-top:10px'>{anchor}<b>Assistant</b></p>{rendered.html}"
            f"<p style='color:gray; font-size:small'>{footer}</p>"
            f"<p style='font-size:small'>{actions}</p>"
        )

    def _anchor(self, url: QUrl) -> None:
        scheme = url.scheme()
        if scheme == COPY_SCHEME:
            self.action_requested.emit("copy-code", int(url.path() or -1))
        elif scheme == ACTION_SCHEME:
            verb, _, index = url.path().partition(":")
            if index.isdigit():
                self.action_requested.emit(verb, int(index))
        else:
            self.link_requested.emit(url)

    def _scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

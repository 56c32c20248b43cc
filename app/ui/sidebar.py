"""The conversation list and history search: it draws what the history worker found.

The list always marks the conversation on screen (none for a new one). The search box works
from the keyboard: Esc clears it, Down moves into the results, Enter opens the chosen one.
"""

from __future__ import annotations

import html
import re
from functools import partial
from typing import Any

from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.theme import LOCK_TOOLTIP

SEARCH_DELAY_MS = 200  # search once the user pauses typing, not on every key
ID_ROLE = Qt.ItemDataRole.UserRole
FOCUS_ROLE = Qt.ItemDataRole.UserRole + 1
_OPERATORS = {"and", "or", "not", "near"}


def query_words(query: str) -> list[str]:
    """The words of a search, as the opened conversation marks them (no operators)."""
    words = re.findall(r"\w+", query)
    return list(dict.fromkeys(w for w in words if w.lower() not in _OPERATORS))


class SearchBox(QLineEdit):
    """The history search: Esc clears it (before the window's Esc sees it), Down leaves it."""

    down = Signal()

    def event(self, event: QEvent) -> bool:
        """Claim Esc (while there is a search) and Down before the window's shortcuts."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            key = event.key()
            if key == Qt.Key.Key_Down or (key == Qt.Key.Key_Escape and self.text()):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """Esc clears the search; Down moves into the list below."""
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
        elif event.key() == Qt.Key.Key_Down:
            self.down.emit()
        else:
            super().keyPressEvent(event)


class Sidebar(QWidget):
    """New chat, search box, and either the conversations or the search results."""

    new_chat = Signal()
    open_conversation = Signal(int, object)  # conversation id, message id to show (or None)
    open_hit = Signal(int, int, list)  # a search hit: conversation, message, words to mark
    search_requested = Signal(str)
    rename_requested = Signal(int, str)  # id, current title
    pin_requested = Signal(int, bool)
    delete_requested = Signal(int, str)  # id, title
    export_requested = Signal(int, str)  # id, format

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversations sidebar")
        self.export_allowed = True
        self.current: int | None = None  # the conversation on screen
        self.listed_ids: set[int] = set()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.new_button = QPushButton("New chat", self)
        self.new_button.setAccessibleName("New chat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.new_chat.emit)
        layout.addWidget(self.new_button)
        self.search_box = SearchBox(self)
        self.search_box.setObjectName("search")
        self.search_box.setPlaceholderText("Search history (Ctrl+F)")
        self.search_box.setAccessibleName("Search history")
        self.search_box.setToolTip("Esc clears the search; Down moves to the results")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.down.connect(self._into_list)
        layout.addWidget(self.search_box)
        self.status = QLabel("", self)
        self.status.setAccessibleName("Search status")
        self.status.hide()
        layout.addWidget(self.status)
        self.conversations = QListWidget(self)
        self.conversations.setObjectName("conversations")
        self.conversations.setAccessibleName("Conversations")
        self.conversations.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversations.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversations.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversations.customContextMenuRequested.connect(self._menu)
        self.conversations.itemActivated.connect(self._activated)
        self.conversations.itemClicked.connect(self._activated)
        layout.addWidget(self.conversations, 1)
        self.results = QListWidget(self)
        self.results.setObjectName("results")
        self.results.setAccessibleName("Search results")
        self.results.setWordWrap(True)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.itemActivated.connect(self._hit_activated)
        self.results.itemClicked.connect(self._hit_activated)
        self.results.hide()
        layout.addWidget(self.results, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(lambda: self.search_requested.emit(self.search_box.text()))
        self.search_box.textChanged.connect(self._typed)

    # --- drawing what the worker found ----------------------------------------------------

    def show_conversations(self, conversations: list[Any], current: int | None) -> None:
        """Pinned first, then newest first (the store's order); ``current`` marked."""
        self.conversations.clear()
        for c in conversations:
            title = ("★ " if c.pinned else "") + c.title
            item = QListWidgetItem(title)
            item.setData(ID_ROLE, c.id)
            item.setData(FOCUS_ROLE, None)
            item.setToolTip(c.title + (" (pinned)" if c.pinned else ""))
            self.conversations.addItem(item)
        self.listed_ids = {c.id for c in conversations}
        self.mark_current(current)

    def mark_current(self, conversation_id: int | None) -> None:
        """Mark the conversation on screen in the list (``None``: a new one, nothing marked)."""
        self.current = conversation_id
        self.conversations.clearSelection()
        self.conversations.setCurrentRow(-1)
        for row in range(self.conversations.count()):
            item = self.conversations.item(row)
            if item.data(ID_ROLE) == conversation_id:
                self.conversations.setCurrentItem(item)
                item.setSelected(True)
                self.conversations.scrollToItem(item)
                return

    def show_results(self, hits: list[Any]) -> None:
        """Search hits with the matched words highlighted."""
        self.results.clear()
        self.status.setText(f"{len(hits)} result{'s' if len(hits) != 1 else ''}"
                            if hits else "No messages match.")
        self.status.show()
        for hit in hits:
            parts = hit.snippet_parts()
            snippet = "".join(
                f"<b style='background-color:#ffe066; color:#000'>{html.escape(t)}</b>"
                if marked else html.escape(t) for t, marked in parts)
            plain = "".join(t for t, _ in parts)
            item = QListWidgetItem()
            item.setData(ID_ROLE, hit.conversation_id)
            item.setData(FOCUS_ROLE, hit.message_id)
            item.setData(Qt.ItemDataRole.AccessibleTextRole,
                         f"{hit.conversation_title}: {plain}")
            label = QLabel(
                f"<b>{html.escape(hit.conversation_title)}</b> "
                f"<span style='color:gray'>({html.escape(hit.role)})</span><br>{snippet}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setContentsMargins(4, 3, 4, 3)
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.results.addItem(item)
            self.results.setItemWidget(item, label)
            item.setSizeHint(label.sizeHint())

    # --- user actions ---------------------------------------------------------------------

    def focus_search(self) -> None:
        """Ctrl+F."""
        self.search_box.setFocus()
        self.search_box.selectAll()

    def _typed(self, text: str) -> None:
        searching = bool(text.strip())
        self.results.setVisible(searching)
        self.conversations.setVisible(not searching)
        self.status.setVisible(searching)
        if searching:
            self.status.setText("Searching…")
            self._timer.start()
        else:
            self._timer.stop()
            self.results.clear()
            self.mark_current(self.current)  # what was opened from the results is marked

    def _into_list(self) -> None:
        shown = self.results if self.results.isVisible() else self.conversations
        if shown.count():
            shown.setFocus()
            if shown.currentRow() < 0 or shown is self.results:
                shown.setCurrentRow(0)

    def _activated(self, item: QListWidgetItem) -> None:
        self.open_conversation.emit(int(item.data(ID_ROLE)), item.data(FOCUS_ROLE))

    def _hit_activated(self, item: QListWidgetItem) -> None:
        self.open_hit.emit(int(item.data(ID_ROLE)), int(item.data(FOCUS_ROLE)),
                           query_words(self.search_box.text()))

    def _menu(self, pos: QPoint) -> None:
        item = self.conversations.itemAt(pos)
        if item is None:
            return
        menu = self.menu_for(item)
        menu.exec(self.conversations.viewport().mapToGlobal(pos))

    def menu_for(self, item: QListWidgetItem) -> QMenu:
        """The context menu of one conversation."""
        cid = int(item.data(ID_ROLE))
        title = item.toolTip().removesuffix(" (pinned)")
        pinned = item.toolTip().endswith(" (pinned)")
        menu = QMenu(self)
        menu.setAccessibleName("Conversation actions")
        menu.addAction("Rename…", lambda: self.rename_requested.emit(cid, title))
        menu.addAction("Unpin" if pinned else "Pin to top",
                       lambda: self.pin_requested.emit(cid, not pinned))
        for label, fmt in (("Export as Markdown…", "md"), ("Export as JSON…", "json"),
                           ("Export as PDF…", "pdf")):
            action = menu.addAction(label)
            action.triggered.connect(partial(self.export_requested.emit, cid, fmt))
            action.setEnabled(self.export_allowed)
            if not self.export_allowed:
                action.setToolTip(LOCK_TOOLTIP)
        menu.setToolTipsVisible(True)
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.delete_requested.emit(cid, title))
        return menu

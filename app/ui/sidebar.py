"""The conversation list and history search: it draws what the history worker found.

The list shows the conversations under Pinned, Today, Yesterday, … Older (the core groups
them) and marks the one on screen. A heading is drawn above its group's first row, not as a
row, so it is never selected, focused or landed on by the arrow keys; each row's accessible
name says its group. F2 renames in place (Enter saves, Esc cancels), Ctrl+Shift+P pins,
Delete asks to delete, Enter opens. The search box: Esc clears it, Down enters the results.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QKeySequence, QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.core.conversation_groups import group_conversations
from app.core.history_actions import MAX_TITLE_CHARS
from app.ui.search_box import SearchBox
from app.ui.theme import LOCK_TOOLTIP, icon, theme_events

SEARCH_DELAY_MS = 200  # search once the user pauses typing, not on every key
RESULTS_BATCH = 8  # hits drawn per event-loop turn: 50 rich-text labels at once froze 55-90 ms
ID_ROLE = Qt.ItemDataRole.UserRole
FOCUS_ROLE = Qt.ItemDataRole.UserRole + 1
HEADER_ROLE = Qt.ItemDataRole.UserRole + 2  # the heading drawn above this row, or None
PINNED_ROLE = Qt.ItemDataRole.UserRole + 3
PIN_KEYS = "Ctrl+Shift+P"
_OPERATORS = {"and", "or", "not", "near"}
_NO_CHANGE = QItemSelectionModel.SelectionFlag.NoUpdate  # move the cursor, not the mark
_MOUSE = {QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
          QEvent.Type.MouseButtonDblClick}


def header_height(metrics: QFontMetrics) -> int:
    """The room a group heading takes above its first row: it grows with the text size."""
    return metrics.height() + 10


def query_words(query: str) -> list[str]:
    """The words of a search, as the opened conversation marks them (no operators)."""
    words = re.findall(r"\w+", query)
    return list(dict.fromkeys(w for w in words if w.lower() not in _OPERATORS))


class GroupDelegate(QStyledItemDelegate):
    """Draws a group's heading above its first row; renames a row in place, via the core."""

    renamed = Signal(int, str)  # conversation id, the title as typed

    def _below(self, option: QStyleOptionViewItem, index: Any) -> QStyleOptionViewItem:
        opt = QStyleOptionViewItem(option)
        if index.data(HEADER_ROLE):
            opt.rect = option.rect.adjusted(0, header_height(option.fontMetrics), 0, 0)
        return opt

    def sizeHint(self, option: QStyleOptionViewItem, index: Any) -> Any:  # noqa: N802
        """A row, and its heading's height when it starts a group."""
        size = super().sizeHint(option, index)
        if index.data(HEADER_ROLE):
            size.setHeight(size.height() + header_height(option.fontMetrics))
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Any) -> None:
        """The heading (small, bold, muted), then the row below it."""
        if label := index.data(HEADER_ROLE):
            painter.save()
            font = QFont(option.font)
            font.setBold(True)
            font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
            painter.setFont(font)
            painter.setPen(option.palette.placeholderText().color())
            rect = option.rect.adjusted(8, 6, -8, 0)
            rect.setHeight(header_height(option.fontMetrics) - 6)
            painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter, str(label))
            painter.restore()
        super().paint(painter, self._below(option, index), index)

    def createEditor(self, parent: QWidget, option: Any, index: Any) -> QWidget:  # noqa: N802
        """A one-line title box, bounded as the core bounds a title."""
        editor = QLineEdit(parent)
        editor.setMaxLength(MAX_TITLE_CHARS)
        editor.setAccessibleName("Conversation title")
        editor.setToolTip("Enter saves the new title; Esc keeps the old one")
        return editor

    def updateEditorGeometry(self, editor: QWidget, option: QStyleOptionViewItem,  # noqa: N802
                             index: Any) -> None:
        """Over the row, not its heading."""
        super().updateEditorGeometry(editor, self._below(option, index), index)

    def setModelData(self, editor: QWidget, model: Any, index: Any) -> None:  # noqa: N802
        """Enter (or leaving the box): a changed title goes to the core to check and save.

        Nothing is written to the list here: it is drawn again from what the store kept.
        """
        text = editor.text() if isinstance(editor, QLineEdit) else ""
        if text != index.data(Qt.ItemDataRole.DisplayRole):
            self.renamed.emit(int(index.data(ID_ROLE)), text)


class ConversationList(QListWidget):
    """The grouped list: a heading ignores clicks; Delete and the pin keys act on a row."""

    delete_pressed = Signal(int, str)  # id, title
    pin_pressed = Signal(int, bool)  # id, pinned after

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups = GroupDelegate(self)
        self.setItemDelegate(self.groups)
        self.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)  # F2

    def item_for(self, conversation_id: int | None) -> QListWidgetItem | None:
        """The row of a conversation, if it is listed."""
        rows = (self.item(row) for row in range(self.count()))
        return next((i for i in rows if i.data(ID_ROLE) == conversation_id), None)

    def on_header(self, pos: QPoint) -> bool:
        """Whether ``pos`` (viewport coordinates) is on a group heading."""
        index = self.indexAt(pos)
        return bool(index.isValid() and index.data(HEADER_ROLE)
                    and pos.y() < self.visualRect(index).top() + header_height(self.fontMetrics()))

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """A heading is not a row: pressing or clicking it selects and opens nothing."""
        if (event.type() in _MOUSE and isinstance(event, QMouseEvent)
                and self.on_header(event.position().toPoint())):
            return True
        return super().viewportEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """Delete asks to delete the current row; Ctrl+Shift+P pins or unpins it."""
        item = self.currentItem()
        if item is not None and event.key() == Qt.Key.Key_Delete:
            self.delete_pressed.emit(*_id_title(item))
        elif item is not None and QKeySequence(event.keyCombination()) == QKeySequence(PIN_KEYS):
            self.pin_pressed.emit(_id_title(item)[0], not item.data(PINNED_ROLE))
        else:
            super().keyPressEvent(event)


class Sidebar(QWidget):
    """New chat, search box, and either the conversations or the search results."""

    new_chat = Signal()
    open_conversation = Signal(int, object)  # conversation id, message id to show (or None)
    open_hit = Signal(int, int, list)  # a search hit: conversation, message, words to mark
    search_requested = Signal(str)
    rename_requested = Signal(int, str)  # id, the new title as typed in place
    pin_requested = Signal(int, bool)
    delete_requested = Signal(int, str)  # id, title
    export_requested = Signal(int, str)  # id, format

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversations sidebar")
        self.export_allowed = True
        self.current: int | None = None  # the conversation on screen
        self.listed_ids: set[int] = set()
        self._waiting: list[Any] | None = None  # a list that came while a title was edited
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
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # the sheet's colour
        self._search_icon = self.search_box.addAction(icon("search"),
                                                      QLineEdit.ActionPosition.LeadingPosition)
        theme_events().changed.connect(self._draw_icons)
        self._draw_icons()
        self.status = QLabel("", self)
        self.status.setAccessibleName("Search status")
        self.status.hide()
        layout.addWidget(self.status)
        self.conversations = ConversationList(self)
        self.conversations.setObjectName("conversations")
        self.conversations.setAccessibleName("Conversations")
        self.conversations.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversations.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversations.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversations.customContextMenuRequested.connect(self._menu)
        self.conversations.itemActivated.connect(self._activated)
        self.conversations.itemClicked.connect(self._activated)
        self.conversations.groups.renamed.connect(self.rename_requested)
        # The title box closed (saved or not): draw a list that came meanwhile.
        self.conversations.groups.closeEditor.connect(
            lambda *_: QTimer.singleShot(0, self._show_waiting))
        self.conversations.delete_pressed.connect(self.delete_requested)
        self.conversations.pin_pressed.connect(self.pin_requested)
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
        self._pending: list[Any] = []  # search hits not drawn yet
        self._batch_timer = QTimer(self, singleShot=True, interval=0)
        self._batch_timer.timeout.connect(self._draw_some)

    # --- drawing what the worker found ----------------------------------------------------

    def show_conversations(self, conversations: list[Any], current: int | None) -> None:
        """Under their headings (Pinned, Today, … Older), ``current`` marked.

        A list that comes while a title is edited waits for the edit to end.
        """
        if self.conversations.state() == QAbstractItemView.State.EditingState:
            self._waiting = list(conversations)
            return
        self._waiting = None
        self.conversations.clear()
        # The bundled pin, tinted for the theme (no file: no icon, and the heading says it).
        pin = icon("pin")
        for group in group_conversations(conversations, datetime.now(UTC)):
            for n, c in enumerate(group.items):
                item = QListWidgetItem(c.title)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                item.setData(ID_ROLE, c.id)
                item.setData(HEADER_ROLE, group.label if n == 0 else None)
                item.setData(PINNED_ROLE, bool(c.pinned))
                item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{c.title} ({group.label})")
                item.setToolTip(c.title + (" (pinned)" if c.pinned else ""))
                if c.pinned:
                    item.setIcon(pin)
                self.conversations.addItem(item)
        self.listed_ids = {c.id for c in conversations}
        self.mark_current(current)

    def start_rename(self, conversation_id: int) -> None:
        """Edit a conversation's title in place (F2, the menu's Rename)."""
        if (item := self.conversations.item_for(conversation_id)) is not None:
            self.conversations.setFocus()
            self.conversations.setCurrentItem(item, _NO_CHANGE)
            self.conversations.editItem(item)

    def _show_waiting(self) -> None:
        if self._waiting is not None:
            self.show_conversations(self._waiting, self.current)

    def mark_current(self, conversation_id: int | None) -> None:
        """Mark the conversation on screen in the list (``None``: a new one, nothing marked)."""
        self.current = conversation_id
        self.conversations.clearSelection()
        self.conversations.setCurrentRow(-1)
        if (item := self.conversations.item_for(conversation_id)) is not None:
            self.conversations.setCurrentItem(item)
            item.setSelected(True)
            self.conversations.scrollToItem(item)

    def show_results(self, hits: list[Any]) -> None:
        """Search hits with the matched words highlighted, a few per turn of the event loop."""
        self.results.clear()
        self.status.setText(f"{len(hits)} result{'s' if len(hits) != 1 else ''}"
                            if hits else "No messages match.")
        self.status.show()
        self._pending = list(hits)
        self._draw_some()

    def drawing_results(self) -> bool:
        """Whether search hits are still being added to the list."""
        return bool(self._pending)

    def _draw_some(self) -> None:
        batch, self._pending = self._pending[:RESULTS_BATCH], self._pending[RESULTS_BATCH:]
        for hit in batch:
            self._add_hit(hit)
        if self._pending:
            self._batch_timer.start()

    def _add_hit(self, hit: Any) -> None:
        parts = hit.snippet_parts()
        snippet = "".join(
            f"<b style='background-color:#ffe066; color:#000'>{html.escape(t)}</b>"
            if marked else html.escape(t) for t, marked in parts)
        item = QListWidgetItem()
        item.setData(ID_ROLE, hit.conversation_id)
        item.setData(FOCUS_ROLE, hit.message_id)
        item.setData(Qt.ItemDataRole.AccessibleTextRole,
                     f"{hit.conversation_title}: {''.join(t for t, _ in parts)}")
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
            self._pending = []
            self.mark_current(self.current)  # what was opened from the results is marked

    def _draw_icons(self, dark: bool | None = None) -> None:
        self.new_button.setIcon(icon("new-chat", dark))
        self._search_icon.setIcon(icon("search", dark))

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
        if item is None or self.conversations.on_header(pos):
            return
        menu = self.menu_for(item)
        menu.exec(self.conversations.viewport().mapToGlobal(pos))

    def menu_for(self, item: QListWidgetItem) -> QMenu:
        """The context menu of one conversation."""
        cid, title = _id_title(item)
        pinned = bool(item.data(PINNED_ROLE))
        menu = QMenu(self)
        menu.setAccessibleName("Conversation actions")
        menu.addAction("Rename", QKeySequence("F2"), lambda: self.start_rename(cid))
        menu.addAction("Unpin" if pinned else "Pin to top", QKeySequence(PIN_KEYS),
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
        menu.addAction("Delete…", QKeySequence("Delete"),
                       lambda: self.delete_requested.emit(cid, title))
        return menu


def _id_title(item: QListWidgetItem) -> tuple[int, str]:
    return int(item.data(ID_ROLE)), item.text()

"""The saved conversations in the window: the sidebar's list, search, open, rename, delete.

``ConversationsController`` owns the history lane: every read and change of the store runs
there (``HistoryJobs``), and the sidebar draws what comes back. Retention runs at start-up
(``open_app``) and then daily while the window stays open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

from app.ui.background import BackgroundLane
from app.ui.chat_view import ShownMessage
from app.ui.export import export_allowed
from app.ui.footer import footer_for
from app.ui.notices import NoticeArea
from app.ui.sidebar import Sidebar
from app.ui.turns import TurnController
from app.ui.workers import HistoryJobs

RETENTION_INTERVAL_MS = 24 * 3600 * 1000


def shown_messages(branch: list[Any]) -> list[ShownMessage]:
    """A stored branch as the conversation view shows it (questions and answers only)."""
    shown = []
    for m in branch:
        if m.role not in ("user", "assistant"):
            continue
        footer = "" if m.role == "user" else footer_for(
            m.model_id or "?", m.route, m.tokens_per_s, m.ttft_ms, m.complete, None, None)
        shown.append(ShownMessage(m.role, m.text, m.id, m.parent_id, footer, m.complete))
    return shown


class ConversationsController(QObject):
    """Connects the sidebar to the history lane and the conversation on screen.

    Args:
        app: The application context (history, policy, settings, audit).
        sidebar: The conversation list and search.
        turns: The conversation on screen (which one, whether an answer streams).
        notices: Where failures and short notices are shown.
        parent: The window (dialogs are shown over it).
        export: Asks where to export a conversation, then exports it (id, format).
    """

    conversation_shown = Signal(int)

    def __init__(self, app: Any, sidebar: Sidebar, turns: TurnController, notices: NoticeArea,
                 parent: QWidget, export: Callable[[int, str], None]) -> None:
        super().__init__(parent)
        self.app = app
        self.sidebar = sidebar
        self.turns = turns
        self.notices = notices
        self._window = parent
        self.lane = BackgroundLane("enclave-history", self)
        self.jobs = HistoryJobs(app.history, app, self.lane, on_error=notices.show_failure)
        self.retention_timer = QTimer(self)
        self.retention_timer.setInterval(RETENTION_INTERVAL_MS)
        self.retention_timer.timeout.connect(lambda: self.jobs.apply_retention(self._listed))
        self.retention_timer.start()
        self._connect(export)

    def _connect(self, export: Callable[[int, str], None]) -> None:
        sidebar = self.sidebar
        sidebar.new_chat.connect(self.turns.new_chat)
        sidebar.open_conversation.connect(self.open_conversation)
        sidebar.search_requested.connect(self.search)
        sidebar.rename_requested.connect(self._rename)
        sidebar.pin_requested.connect(lambda cid, p: self.jobs.pin(cid, p, self._listed))
        sidebar.delete_requested.connect(self._delete)
        sidebar.export_requested.connect(export)
        sidebar.export_allowed = export_allowed(self.app.policy)
        if self.app.history is None:
            sidebar.setEnabled(False)
            sidebar.setToolTip("This session is not saved: there is no history to show.")
        self.turns.history_changed.connect(self.refresh)

    def refresh(self) -> None:
        """List the conversations again (after a turn, or when the history changed)."""
        self.jobs.list_conversations(self._listed)

    def open_conversation(self, conversation_id: int, focus_message_id: Any = None) -> None:
        """Show a stored conversation (loaded on the history lane)."""
        if self.turns.answering:
            self.notices.show_notice("Wait for the answer to finish (or press Esc) first.")
            return
        self.jobs.load_conversation(
            conversation_id, None if focus_message_id is None else int(focus_message_id),
            self._loaded)

    def _loaded(self, cid: int, branch: list[Any], focus: Any) -> None:
        if self.turns.answering:
            return
        self.turns.show_conversation(cid, shown_messages(branch))
        if focus is not None:
            self.turns.view.scroll_to_message(int(focus))
        self.conversation_shown.emit(cid)

    def _listed(self, conversations: list[Any]) -> None:
        self.sidebar.show_conversations(conversations, self.turns.conversation_id)

    def search(self, query: str) -> None:
        """Search the history; the sidebar shows the hits."""
        self.jobs.search(query, self.sidebar.show_results)

    def _rename(self, cid: int, title: str) -> None:
        new, ok = QInputDialog.getText(self._window, "Rename conversation", "Title:",
                                       text=title)
        if ok and new.strip():
            self.rename(cid, new.strip())

    def rename(self, cid: int, title: str) -> None:
        """Rename after the user typed the new title."""
        self.jobs.rename(cid, title, self._listed)

    def _delete(self, cid: int, title: str) -> None:
        answer = QMessageBox.question(
            self._window, "Delete conversation?",
            f"Delete “{title}” and all its messages? This cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(cid)

    def delete(self, cid: int) -> None:
        """Delete after the user confirmed."""
        if cid == self.turns.conversation_id:
            self.turns.new_chat()
        self.jobs.delete(cid, self._listed)

    def shutdown(self) -> None:
        """Stop the daily retention and wait for the history lane (the window is closing)."""
        self.retention_timer.stop()
        self.lane.shutdown()

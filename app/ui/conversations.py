"""The saved conversations in the window: the sidebar's list, search, open, rename, delete.

``ConversationsController`` owns the history lane: every read and change of the store runs
there (``HistoryJobs``), and the sidebar draws what comes back. It also keeps each
conversation's collections with it: opening or switching to a conversation shows its own
collections, and what the user attaches or detaches is saved for that conversation only.
Retention runs at start-up (``open_app``) and then daily while the window stays open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.conversation_view import ConversationView
from app.ui.background import BackgroundLane
from app.ui.documents_panel import DocumentsPanel
from app.ui.export import export_allowed
from app.ui.notices import NoticeArea
from app.ui.sidebar import Sidebar
from app.ui.turns import TurnController
from app.ui.workers import HistoryJobs

RETENTION_INTERVAL_MS = 24 * 3600 * 1000


class ConversationsController(QObject):
    """Connects the sidebar to the history lane and the conversation on screen.

    Args:
        app: The application context (history, policy, settings, audit).
        sidebar: The conversation list and search.
        turns: The conversation on screen (which one, whether an answer streams).
        notices: Where failures and short notices are shown.
        documents: The collections attached to the conversation on screen.
        parent: The window (dialogs are shown over it).
        export: Asks where to export a conversation, then exports it (id, format).
    """

    conversation_shown = Signal(int)

    def __init__(self, app: Any, sidebar: Sidebar, turns: TurnController, notices: NoticeArea,
                 documents: DocumentsPanel, parent: QWidget,
                 export: Callable[[int, str], None]) -> None:
        super().__init__(parent)
        self.app = app
        self.sidebar = sidebar
        self.turns = turns
        self.notices = notices
        self.documents = documents
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
        sidebar.open_hit.connect(
            lambda cid, mid, words: self.open_conversation(cid, mid, highlight=words))
        sidebar.search_requested.connect(self.search)
        sidebar.rename_requested.connect(self.rename)
        sidebar.pin_requested.connect(lambda cid, p: self.jobs.pin(cid, p, self._listed))
        sidebar.delete_requested.connect(self._delete)
        sidebar.export_requested.connect(export)
        sidebar.export_allowed = export_allowed(self.app.policy)
        if self.app.history is None:
            sidebar.setEnabled(False)
            sidebar.setToolTip("This session is not saved: there is no history to show.")
        self.turns.history_changed.connect(self.refresh)
        # The turn has saved its question by its first token: list it now, at the top of
        # Today, while its answer streams (a new conversation is marked when it ends).
        self.turns.first_token_painted.connect(lambda _: self.refresh())
        self.turns.conversation_changed.connect(self._conversation_changed)
        self.turns.open_requested.connect(self.open_conversation)
        self.documents.scope_edited.connect(self._scope_edited)
        self.documents.scope_added.connect(self.jobs.add_to_scope)

    def refresh(self) -> None:
        """List the conversations again (after a turn, or when the history changed)."""
        self.jobs.list_conversations(self._listed)

    def open_conversation(self, conversation_id: int, focus_message_id: Any = None,
                          highlight: list[str] | None = None) -> None:
        """Show a stored conversation (loaded on the history lane).

        Args:
            conversation_id: The conversation.
            focus_message_id: The message to show (a search hit, a version), else the newest.
            highlight: Words to mark in it (the search that found it).
        """
        if self.turns.answering:
            self.notices.show_notice("Wait for the answer to finish (or press Esc) first.")
            return
        focus = None if focus_message_id is None else int(focus_message_id)
        self.jobs.load_view(conversation_id, focus,
                            lambda view: self._loaded(view, focus, highlight or []))

    def _loaded(self, view: ConversationView | None, focus: int | None,
                highlight: list[str]) -> None:
        if view is None or self.turns.answering:
            return
        cid = view.conversation_id
        self.documents.show_scope(cid, list(view.scope))  # before the change is announced
        self.turns.show_conversation(view, focus)
        if highlight:
            self.turns.view.highlight(highlight)
        self.sidebar.mark_current(cid)
        self.conversation_shown.emit(cid)

    def _conversation_changed(self, cid: int | None) -> None:
        """Another conversation is on screen: mark it, list it, show its collections."""
        self.sidebar.mark_current(cid)
        if cid is not None and cid not in self.sidebar.listed_ids:
            self.refresh()  # a turn just made it: list it now, even under a search
        if cid is None:
            self.documents.show_scope(None, [])
        elif cid != self.documents.owner:
            # A turn made it (taking the pending collections) or moved to it: show what the
            # conversation keeps, as the core saved it.
            self.documents.owner = cid
            self.jobs.load_scope(cid, lambda names: self._scope_loaded(cid, names))

    def _scope_loaded(self, cid: int, names: list[str]) -> None:
        if cid == self.turns.conversation_id == self.documents.owner:
            self.documents.show_scope(cid, names)

    def _scope_edited(self, cid: int | None, names: list[str]) -> None:
        # A new conversation's collections wait for its first message, which saves them.
        if cid is not None:
            self.jobs.set_scope(cid, names)

    def _listed(self, conversations: list[Any]) -> None:
        self.sidebar.show_conversations(conversations, self.turns.conversation_id)

    def search(self, query: str) -> None:
        """Search the history; the sidebar shows the hits."""
        self.jobs.search(query, self.sidebar.show_results)

    def rename(self, cid: int, title: str) -> None:
        """Rename after the user typed the new title (in place, in the list).

        The core checks the title; one it refuses (empty, too long) is shown as a failure and
        the list keeps the old one.
        """
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

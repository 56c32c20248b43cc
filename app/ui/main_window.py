"""The main window: sidebar, conversation, composer, model picker, route, banners, status.

It draws and forwards: every decision (what may load, what a turn does, what may be exported)
is made in ``app.core``. Work that can take time runs on two background lanes (chat, history;
see ``app.ui.background``).
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat import TurnResult
from app.core.context import AppContext, engine_options, generation_params
from app.core.engines.base import EngineInfo
from app.core.errors import EnclaveError
from app.core.models.errors import ModelNotFound
from app.core.units import human_size
from app.ui.background import BackgroundLane
from app.ui.banners import ClassificationBanner, available_routes, banner_spec, route_text
from app.ui.chat_view import ChatView, ShownMessage
from app.ui.citations import SourcesBar
from app.ui.composer import Composer
from app.ui.documents_panel import DocumentsBar, DocumentsPanel
from app.ui.export import export_allowed
from app.ui.footer import footer_for, memory_text
from app.ui.pages import NoModelPage
from app.ui.sidebar import Sidebar
from app.ui.theme import apply_theme
from app.ui.window_actions import WindowMenus
from app.ui.workers import ChatJobs, HistoryJobs, ModelChoice, TokenBuffer

RETENTION_INTERVAL_MS = 24 * 3600 * 1000
FLUSH_MS = 33  # ~30 Hz: smooth to the eye, cheap for the GUI thread


class MainWindow(QMainWindow):
    """One window, one conversation at a time."""

    answer_finished = Signal(object)  # TurnResult, emitted on the GUI thread
    conversation_shown = Signal(int)
    first_token_painted = Signal(float)  # seconds from the engine's token to the paint

    def __init__(self, app: AppContext) -> None:
        super().__init__()
        self.app = app
        self.setWindowTitle("Enclave")
        self.setAccessibleName("Enclave")
        self.resize(1100, 720)
        self.setMinimumSize(640, 480)
        self.conversation_id: int | None = None
        self.engine_info: EngineInfo | None = None
        self.busy = False
        self.loading = False
        self.edit_index: int | None = None
        self.models: list[ModelChoice] = []
        self._first_pending = False

        self.buffer = TokenBuffer()
        self.chat_lane = BackgroundLane("enclave-chat", self)
        self.worker = ChatJobs(app.chat, self.buffer, app.policy, self.chat_lane)
        self.worker.confirmations.asked.connect(self._confirm_send)
        self.history_lane = BackgroundLane("enclave-history", self)
        self.history_jobs = HistoryJobs(app.history, app.chat, app, self.history_lane,
                                        on_error=self.show_failure)

        self.dark = apply_theme(str(app.settings.get("ui.theme")),
                                int(app.settings.get("ui.font_size")))
        self._build()
        self.menus = WindowMenus(self)
        self.view.dark = self.dark
        self.flush_timer = QTimer(self)
        self.flush_timer.setInterval(FLUSH_MS)
        self.flush_timer.timeout.connect(self._flush)
        self.memory_timer = QTimer(self)
        self.memory_timer.setInterval(2000)
        self.memory_timer.timeout.connect(lambda: self.status_memory.setText(memory_text()))
        self.memory_timer.start()
        # Retention runs at start-up (open_app) and then daily while the window stays open.
        self.retention_timer = QTimer(self)
        self.retention_timer.setInterval(RETENTION_INTERVAL_MS)
        self.retention_timer.timeout.connect(
            lambda: self.history_jobs.apply_retention(self._on_conversations))
        self.retention_timer.start()

        QShortcut(QKeySequence("Escape"), self, self._escape)
        self._name_helper_buttons()
        self.worker.list_models(self._on_models_listed)
        self.load_model(app.settings.get("models.default"))
        self.refresh_conversations()

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = Sidebar(self)
        self.sidebar.new_chat.connect(self.new_chat)
        self.sidebar.open_conversation.connect(self.open_conversation)
        self.sidebar.search_requested.connect(self._search)
        self.sidebar.rename_requested.connect(self._rename)
        self.sidebar.pin_requested.connect(
            lambda cid, p: self.history_jobs.pin(cid, p, self._on_conversations))
        self.sidebar.delete_requested.connect(self._delete)
        self.sidebar.export_requested.connect(
            lambda cid, fmt: self.menus.export_conversation(cid, fmt))
        self.sidebar.export_allowed = export_allowed(self.app.policy)
        if self.app.history is None:
            self.sidebar.setEnabled(False)
            self.sidebar.setToolTip("This session is not saved: there is no history to show.")

        chat = QWidget(self)
        layout = QVBoxLayout(chat)
        layout.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        self.route_label = QLabel(self)
        self.route_label.setObjectName("route")
        self.route_label.setAccessibleName("Route")
        self._show_route("local", "local")
        self.route_picker = QComboBox(self)
        self.route_picker.setAccessibleName("Where to send")
        self.route_picker.setToolTip("Where your next message goes; policy decides what is "
                                     "offered")
        self._routes = {r.name: r for r in available_routes(self.app.policy)}
        self.route_picker.addItem("LOCAL · this machine", "local")
        for r in self._routes.values():
            if r.name != "local":
                self.route_picker.addItem(f"{r.name} · {r.classification}", r.name)
        self.route_picker.setVisible(self.route_picker.count() > 1)
        self.route_picker.activated.connect(self._route_picked)
        self.model_picker = QComboBox(self)
        self.model_picker.setAccessibleName("Model")
        self.model_picker.setToolTip("Models your organization allows on this computer")
        self.model_picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_picker.setMinimumContentsLength(24)
        self.model_picker.activated.connect(self._model_picked)
        self.model_label = QLabel("Loading model…", self)
        self.model_label.setAccessibleName("Model status")
        top.addWidget(self.route_label)
        top.addWidget(self.route_picker)
        top.addWidget(self.model_picker, 1)
        top.addWidget(self.model_label)
        layout.addLayout(top)

        if self.app.policy.restricted:
            reasons = "; ".join(self.app.policy.restricted_reasons)
            self.restricted_label = QLabel(
                f"Restricted mode — local only, export off. Reason: {reasons}", self)
            self.restricted_label.setObjectName("restricted")
            self.restricted_label.setAccessibleName("Restricted mode")
            self.restricted_label.setWordWrap(True)
            layout.addWidget(self.restricted_label)
        self.notice = QLabel(self)
        self.notice.setObjectName("notice")
        self.notice.setAccessibleName("Notice")
        self.notice.setWordWrap(True)
        others = [w for w in self.app.warnings if not w.startswith("Restricted mode:")]
        self.notice.setText("\n".join(others))
        self.notice.setVisible(bool(others))
        layout.addWidget(self.notice)
        self.banner = QLabel(self)
        self.banner.setObjectName("error-banner")
        self.banner.setAccessibleName("Error")
        self.banner.setWordWrap(True)
        self.banner.hide()
        layout.addWidget(self.banner)

        self.stack = QStackedWidget(self)
        self.view = ChatView(self)
        self.view.link_requested.connect(lambda url: self.menus.confirm_link(url))
        self.view.action_requested.connect(lambda verb, i: self.menus.message_action(verb, i))
        self.no_model_page = NoModelPage(self)
        self.no_model_page.choose_file.connect(lambda: self.menus.choose_model_file())
        self.no_model_page.check_again.connect(lambda: self.load_model(None))
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.no_model_page)
        layout.addWidget(self.stack, 1)
        # Documents (issue 9): the sources of the latest answer, under the conversation.
        self.sources_bar = SourcesBar(self)
        layout.addWidget(self.sources_bar)

        self.edit_label = QLabel(
            "Editing a message: sending starts a new branch (the old one is kept). "
            "Esc cancels.", self)
        self.edit_label.setObjectName("notice")
        self.edit_label.setAccessibleName("Editing")
        self.edit_label.hide()
        layout.addWidget(self.edit_label)
        # Documents (issue 9): the panel is its own window; the bar beside the composer
        # attaches collections ("Answering from: …").
        self.documents = DocumentsPanel(self.app, self)
        self.documents.attachments_changed.connect(self._documents_attached)
        self.docs_bar = DocumentsBar(self.documents, self)
        layout.addWidget(self.docs_bar)
        row = QHBoxLayout()
        self.composer = Composer(self)
        self.composer.submitted.connect(self.send)
        self.send_button = QPushButton("Send", self)
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(lambda: self.send(self.composer.toPlainText().strip()))
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setAccessibleName("Stop")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stop)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addWidget(self.composer, 1)
        row.addLayout(buttons)
        layout.addLayout(row)

        splitter = QSplitter(self)
        splitter.setAccessibleName("Sidebar and conversation")
        splitter.addWidget(self.sidebar)
        splitter.addWidget(chat)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 840])
        splitter.setChildrenCollapsible(False)
        self.sidebar.setMinimumWidth(180)

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(splitter, 1)
        status = QHBoxLayout()
        status.setContentsMargins(8, 2, 8, 2)
        self.status_model = QLabel("No model loaded", self)
        self.status_model.setAccessibleName("Loaded model")
        self.status_device = QLabel("", self)
        self.status_device.setAccessibleName("Device")
        self.status_memory = QLabel(memory_text(), self)
        self.status_memory.setAccessibleName("Memory in use")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(180)
        self.progress.setAccessibleName("Model loading progress")
        self.progress.hide()
        for widget in (self.status_model, self.status_device):
            status.addWidget(widget)
        status.addStretch(1)
        status.addWidget(self.progress)
        status.addWidget(self.status_memory)
        outer.addLayout(status)
        spec = banner_spec(self.app.policy)
        if spec is not None:
            outer.addWidget(ClassificationBanner(spec, "bottom", central))
        self.setCentralWidget(central)

    def _name_helper_buttons(self) -> None:
        # Buttons Qt adds by itself (a line edit's clear button, the menu bar's overflow).
        for button in self.findChildren(QToolButton):
            if not button.accessibleName():
                button.setAccessibleName(button.toolTip() or "Clear" if isinstance(
                    button.parent(), QLineEdit) else button.toolTip() or "More")

    # --- turns ----------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Send the composer's text, unless an answer is already streaming."""
        if not text or self.busy or self.engine_info is None:
            return
        self.banner.hide()
        parent_id = None
        if self.edit_index is not None:
            edited = self.view.messages[self.edit_index]
            parent_id = edited.parent_id
            if parent_id is None:
                # Editing the first message: the store has no way to add a second root, so
                # the edit starts a new conversation (the old one is kept as it was).
                self.conversation_id = None
            self.view.truncate(self.edit_index)
            self._cancel_edit()
        elif self.view.messages:
            parent_id = self.view.messages[-1].message_id
        self.composer.clear()
        self.view.add_user_message(text, None, parent_id)
        self._start_answer()
        self.worker.send(text, self.conversation_id, parent_id, on_done=self._on_turn_finished,
                         on_error=self._on_failed, on_first_token=self._first_token)

    def regenerate(self, index: int) -> None:
        """Answer the user message before the answer at ``index`` again."""
        if self.busy or self.engine_info is None or index < 1:
            return
        user = self.view.messages[index - 1]
        if self.conversation_id is None or user.message_id is None:
            self.show_error("Regenerating needs the saved history.",
                            "This session is not saved; send the question again instead.")
            return
        self.view.truncate(index)
        self._start_answer()
        self.worker.regenerate(self.conversation_id, user.message_id,
                               on_done=self._on_turn_finished, on_error=self._on_failed,
                               on_first_token=self._first_token)

    def regenerate_last(self) -> None:
        """Ctrl+R."""
        for i in range(len(self.view.messages) - 1, 0, -1):
            if self.view.messages[i].role == "assistant":
                self.regenerate(i)
                return

    def edit_message(self, index: int) -> None:
        """Put a user message back into the composer; sending it starts a new branch."""
        if self.busy or not 0 <= index < len(self.view.messages):
            return
        shown = self.view.messages[index]
        if shown.role != "user":
            return
        self.edit_index = index
        self.composer.setPlainText(shown.text)
        self.edit_label.show()
        self.composer.setFocus()

    def edit_last(self) -> None:
        """Ctrl+E."""
        for i in range(len(self.view.messages) - 1, -1, -1):
            if self.view.messages[i].role == "user":
                self.edit_message(i)
                return

    def _cancel_edit(self) -> None:
        self.edit_index = None
        self.edit_label.hide()

    def _start_answer(self) -> None:
        assert self.engine_info is not None
        self.buffer.reset()
        self.sources_bar.show_sources(None)  # sources belong to one answer (issue 9)
        self._first_pending = True
        self.view.begin_answer(self.engine_info.model_id)
        self._set_busy(True)
        self.flush_timer.start()

    def stop(self) -> None:
        """Stop the streaming answer (kept, marked incomplete)."""
        if self.busy and not self.loading:
            self.worker.cancel.set()

    def _escape(self) -> None:
        if self.busy:
            self.stop()
        elif self.edit_index is not None:
            self._cancel_edit()
            self.composer.clear()

    def new_chat(self) -> None:
        """Start a fresh conversation."""
        if self.busy and not self.loading:
            return
        self.conversation_id = None
        self._cancel_edit()
        self.view.clear_messages()
        self.sources_bar.show_sources(None)  # issue 9
        self.banner.hide()
        self.composer.setFocus()

    def copy_last_answer(self) -> None:
        """Ctrl+Shift+C."""
        text = self.view.last_answer()
        if text:
            QApplication.clipboard().setText(text)
            self.show_notice("Answer copied.")

    def show_error(self, message: str, hint: str = "") -> None:
        """Show an error in the window, in words a user understands."""
        self.banner.setText(f"<b>{message}</b>" + (f"<br>{hint}" if hint else ""))
        self.banner.show()

    def show_failure(self, error: EnclaveError) -> None:
        """Show a failed job's error (what happened, what to do next)."""
        self.show_error(error.message, error.hint)

    def show_notice(self, text: str) -> None:
        """A short, non-alarming message (copied, exported)."""
        self.notice.setText(text)
        self.notice.show()

    # --- worker results -------------------------------------------------------------------

    def load_model(self, model_id: Any) -> None:
        """Load a model in the background; the window stays usable."""
        self.loading = True
        self._set_busy(True, loading=True)
        self.progress.setValue(0)
        self.progress.show()
        self.model_label.setText("Loading model…")
        self.worker.load_model(None if model_id is None else str(model_id),
                               on_done=self._on_model_loaded, on_error=self._on_load_failed,
                               on_progress=self.progress.setValue)

    def _on_model_loaded(self, info: EngineInfo) -> None:
        self.engine_info = info
        self.loading = False
        self.model_label.setText("")
        self.status_model.setText(f"Model: {info.model_id}")
        self._show_engine_status(info, info.extra.get("threads_state", ""))
        self._show_route(info.route, "local" if info.route == "local" else "external")
        self.progress.hide()
        self.stack.setCurrentWidget(self.view)
        self.banner.hide()
        self._select_model(info.model_id)
        self._set_busy(False)
        self.composer.setFocus()

    def _on_models_listed(self, models: list[ModelChoice]) -> None:
        self.models = models
        self.model_picker.clear()
        for m in models:
            mark = "✓ verified" if m.verified else "not verified"
            self.model_picker.addItem(
                f"{m.name} · {human_size(m.size)} · {m.quantization} · {mark}", m.id)
        if not models:
            self.model_picker.addItem("No allowed model installed", None)
        if self.engine_info is not None:
            self._select_model(self.engine_info.model_id)

    def _select_model(self, model_id: str) -> None:
        index = self.model_picker.findData(model_id)
        if index >= 0:
            self.model_picker.setCurrentIndex(index)

    def _model_picked(self, index: int) -> None:
        model_id = self.model_picker.itemData(index)
        if model_id is None or self.busy:
            return
        if self.engine_info is None or model_id != self.engine_info.model_id:
            self.load_model(model_id)

    def _on_load_failed(self, error: EnclaveError) -> None:
        self.loading = False
        self.progress.hide()
        self.show_failure(error)
        if self.app.chat.engine is None:  # the failed load may have closed the old model
            self.engine_info = None
        if isinstance(error, ModelNotFound) and self.engine_info is None:
            self.stack.setCurrentWidget(self.no_model_page)
        self.model_label.setText("" if self.engine_info else "No model")
        self._set_busy(False)

    def _first_token(self, _: object) -> None:
        self._flush()

    def _flush(self) -> None:
        text = self.buffer.drain()
        self.view.append_stream(text)
        if text and self._first_pending:
            self._first_pending = False
            produced = self.buffer.first_token_at
            if produced is not None:
                self.first_token_painted.emit(time.perf_counter() - produced)

    def _on_turn_finished(self, result: TurnResult) -> None:
        self.flush_timer.stop()
        self._flush()
        new = self.conversation_id != result.conversation_id
        self.conversation_id = result.conversation_id
        c = result.completion
        self.view.set_user_id(result.user_message_id)
        self.view.end_answer(
            c.text, footer_for(result.engine.model_id, result.engine.route, c.tokens_per_s,
                               c.ttft_s * 1000, c.complete, c.finish_reason, c.error),
            result.assistant_message_id, result.user_message_id, c.complete)
        self.sources_bar.show_sources(result.sources)  # [1] file p.3 … (issue 9)
        engine = self.app.chat.engine
        if result.engine.route == "local" and engine is not None:
            self._show_engine_status(engine.info, c.engine_state)
        self._set_busy(False)
        if new or self.app.history is not None:
            self.refresh_conversations()
        self.answer_finished.emit(result)

    def _on_failed(self, error: EnclaveError) -> None:
        conversation = getattr(error, "conversation_id", None)
        if conversation is not None:  # saved with its answer so far: stay in it
            self.conversation_id = conversation
        self.flush_timer.stop()
        self._flush()
        if self.view.streaming():
            self.view.end_answer(self.view.answer_text(), "incomplete (error)", complete=False)
        self.show_failure(error)
        self._set_busy(False)
        if self.app.history is not None:
            self.refresh_conversations()

    def _show_engine_status(self, info: EngineInfo, threads: str) -> None:
        """Device, what the thread controller does, and any safe fallback after a crash."""
        parts = [f"Device: {info.device}"]
        if threads:
            parts.append(threads)
        if info.extra.get("fallback"):
            parts.append(f"{info.extra['fallback']} after a crash")
        self.status_device.setText("  ·  " + "  ·  ".join(parts))
        self.status_device.setToolTip(
            "The local engine runs in its own process. After a crash in llama.cpp it restarts "
            "with safer settings and remembers them for this model (see `enclave doctor`)."
            if info.extra.get("fallback") else "")

    def _set_busy(self, busy: bool, loading: bool = False) -> None:
        self.busy = busy
        # No model, nothing to send to: the banner or the no-model page says what to do.
        self.send_button.setEnabled(not busy and self.engine_info is not None)
        self.stop_button.setEnabled(busy and not loading)
        self.model_picker.setEnabled(not busy)

    def _route_picked(self, index: int) -> None:
        name = str(self.route_picker.itemData(index))
        self.worker.route = None if name == "local" else name
        info = self._routes.get(name)
        self._show_route(name, info.classification if info else "local")

    def _documents_attached(self, names: list[str], local_only: bool) -> None:
        """Documents attached (issue 9): sends use them; local-only ones keep the turn here."""
        self.worker.collections = list(names)
        if local_only:  # ChatService keeps the turn local; the indicator says so
            self._show_route("local", "local")
        else:
            self._route_picked(self.route_picker.currentIndex())

    def _confirm_send(self, outgoing: str, route: str) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Send outside this machine?")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(f"Your organization asks you to confirm what is sent to {route}.\n"
                    "Sensitive values were replaced by placeholders; this is exactly what "
                    "will leave:")
        box.setDetailedText(outgoing)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        self.worker.confirmations.answer(box.exec() == QMessageBox.StandardButton.Yes)

    def _show_route(self, route: str, classification: str) -> None:
        text, tip, colour = route_text(route, classification)
        others = [r for r in available_routes(self.app.policy) if r.name != "local"]
        if others:
            tip += " Your organization also allows: " + ", ".join(
                f"{r.name} ({r.classification})" for r in others) + "."
        self.route_label.setText(text)
        self.route_label.setToolTip(tip)
        self.route_label.setAccessibleDescription(tip)
        self.route_label.setStyleSheet(f"QLabel {{ background-color: {colour}; }}")

    # --- history --------------------------------------------------------------------------

    def refresh_conversations(self) -> None:
        """List the conversations again (after a turn, or when the history changed)."""
        self.history_jobs.list_conversations(self._on_conversations)

    def open_conversation(self, conversation_id: int, focus_message_id: Any = None) -> None:
        """Show a stored conversation (loaded by the history worker)."""
        if self.busy and not self.loading:
            self.show_notice("Wait for the answer to finish (or press Esc) first.")
            return
        self.history_jobs.load_conversation(
            conversation_id, None if focus_message_id is None else int(focus_message_id),
            self._on_conversation_loaded)

    def _on_conversation_loaded(self, cid: int, branch: list[Any], focus: Any) -> None:
        if self.busy and not self.loading:
            return
        self.conversation_id = cid
        self._cancel_edit()
        shown = []
        for m in branch:
            if m.role not in ("user", "assistant"):
                continue
            footer = "" if m.role == "user" else footer_for(
                m.model_id or "?", m.route, m.tokens_per_s, m.ttft_ms, m.complete, None, None)
            shown.append(ShownMessage(m.role, m.text, m.id, m.parent_id, footer, m.complete))
        self.view.set_messages(shown)
        self.sources_bar.show_sources(None)  # sources are not stored with history (issue 9)
        if focus is not None:
            self.view.scroll_to_message(int(focus))
        self.conversation_shown.emit(cid)

    def _on_conversations(self, conversations: list[Any]) -> None:
        self.sidebar.show_conversations(conversations, self.conversation_id)

    def _search(self, query: str) -> None:
        self.history_jobs.search(query, self.sidebar.show_results)

    def _rename(self, cid: int, title: str) -> None:
        new, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=title)
        if ok and new.strip():
            self.rename_confirmed(cid, new.strip())

    def rename_confirmed(self, cid: int, title: str) -> None:
        """Rename after the user typed the new title."""
        self.history_jobs.rename(cid, title, self._on_conversations)

    def _delete(self, cid: int, title: str) -> None:
        answer = QMessageBox.question(
            self, "Delete conversation?",
            f"Delete “{title}” and all its messages? This cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_confirmed(cid)

    def delete_confirmed(self, cid: int) -> None:
        """Delete after the user confirmed."""
        if cid == self.conversation_id:
            self.new_chat()
        self.history_jobs.delete(cid, self._on_conversations)

    def apply_settings(self) -> None:
        """After the settings dialog: new turns use the new values; the theme redraws."""
        self.app.chat.params = generation_params(self.app.settings)
        self.app.chat.options = engine_options(self.app.settings)
        self.dark = apply_theme(str(self.app.settings.get("ui.theme")),
                                int(self.app.settings.get("ui.font_size")))
        self.view.dark = self.dark
        self.view.rerender()

    # --- shutdown -------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Stop any answer (it is kept), then wait for the background lanes before closing."""
        self.worker.cancel.set()
        self.flush_timer.stop()
        self.memory_timer.stop()
        self.documents.shutdown()  # cancels an ingestion, stops its thread (issue 9)
        self.chat_lane.shutdown()
        self.history_lane.shutdown()
        super().closeEvent(event)

    def lanes(self) -> list[BackgroundLane]:
        """Every background lane of this window (tests check they are idle after close)."""
        return [self.chat_lane, self.history_lane]

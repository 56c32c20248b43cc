"""The main window: it builds the parts and connects them.

Each part owns one piece of the window: ``ModelBar`` (route and model pickers),
``NoticeArea`` (restricted mode, notices, errors), ``ComposerBar``, ``StatusBar``,
``TurnController`` (loading a model and turns, on the chat lane), ``ConversationsController``
(the sidebar and the history lane) and ``WindowMenus``. The window draws and forwards: every
decision (what may load, what a turn does, what may be exported) is made in ``app.core``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QLineEdit,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.context import AppContext, engine_options, generation_params
from app.core.engines.base import EngineInfo
from app.core.errors import EnclaveError
from app.core.reasoning import without_reasoning
from app.core.welcome import welcome_facts_for
from app.ui.background import BackgroundLane
from app.ui.banners import ClassificationBanner, banner_spec
from app.ui.chat_view import ChatView
from app.ui.composer import ComposerBar
from app.ui.conversations import ConversationsController
from app.ui.documents_bar import DocumentsBar
from app.ui.documents_panel import DocumentsPanel
from app.ui.model_bar import ModelBar
from app.ui.notices import NoticeArea
from app.ui.pages import NoModelPage
from app.ui.route_preview import RoutePreview
from app.ui.sidebar import Sidebar
from app.ui.status_bar import StatusBar
from app.ui.theme import apply_theme, theme_events
from app.ui.turns import TurnController, TurnParts
from app.ui.welcome import WelcomeOverlay
from app.ui.window_actions import WindowMenus

NO_MODEL = ("No model is loaded, so nothing can answer yet. Ask your IT team to install an "
            "approved model, or choose a model file you already have.")


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
        self.dark = apply_theme(str(app.settings.get("ui.theme")),
                                int(app.settings.get("ui.font_size")))
        self._build()
        self.view.dark = self.dark
        self.turns = TurnController(app, TurnParts(
            view=self.view, composer=self.composer_bar, notices=self.notices,
            model_bar=self.model_bar, status=self.status_bar, stack=self.stack,
            no_model_page=self.no_model_page), self)
        self.turns.answer_finished.connect(self.answer_finished)
        self.turns.first_token_painted.connect(self.first_token_painted)
        self.conversations = ConversationsController(
            app, self.sidebar, self.turns, self.notices, self.documents, self,
            export=lambda cid, fmt: self.menus.export_conversation(cid, fmt))
        self.conversations.conversation_shown.connect(self.conversation_shown)
        self.menus = WindowMenus(self, self, app, self.conversations.jobs)
        self.docs_bar.bind_action(self.menus.documents_action)
        self.route_preview = RoutePreview(app, self.composer, self.model_bar,
                                          lambda: self.conversation_id)
        self._connect()
        self.menus.on_models_changed = self.turns.list_models  # the picker follows the page
        theme_events().changed.connect(self._theme_changed)  # the OS switched light/dark
        QShortcut(QKeySequence("Escape"), self, self.turns.escape)
        self._name_helper_buttons()
        self.turns.list_models()
        self.load_model(app.settings.get("models.default"))
        self.refresh_conversations()

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = Sidebar(self)
        self.sidebar.setMinimumWidth(180)
        splitter = QSplitter(self)
        splitter.setAccessibleName("Sidebar and conversation")
        splitter.addWidget(self.sidebar)
        splitter.addWidget(self._build_chat())
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 840])
        splitter.setChildrenCollapsible(False)
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(splitter, 1)
        self.status_bar = StatusBar(self)
        outer.addWidget(self.status_bar)
        spec = banner_spec(self.app.policy)
        if spec is not None:
            outer.addWidget(ClassificationBanner(spec, "bottom", central))
        self.setCentralWidget(central)

    def _build_chat(self) -> QWidget:
        chat = QWidget(self)
        chat.setObjectName("chat-pane")  # the style sheet paints it in the surface colour
        chat.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(chat)
        layout.setContentsMargins(6, 6, 6, 6)
        self.model_bar = ModelBar(self.app.policy, self)
        layout.addWidget(self.model_bar)
        self.notices = NoticeArea(self.app.policy, list(self.app.warnings), self)
        layout.addWidget(self.notices)
        self.stack = QStackedWidget(self)
        self.view = ChatView(self)
        self.no_model_page = NoModelPage(self)
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.no_model_page)
        # An empty conversation teaches: starter prompts, and where words go under policy.
        self.welcome = WelcomeOverlay(self.view, welcome_facts_for(
            self.app.policy, saved=self.app.history is not None))
        layout.addWidget(self.stack, 1)
        # The panel is its own window; the bar beside the composer attaches collections.
        self.documents = DocumentsPanel(self.app, self)
        self.docs_bar = DocumentsBar(self.documents, self)
        self.composer_bar = ComposerBar(self.docs_bar, self)
        layout.addWidget(self.composer_bar)
        return chat

    def _connect(self) -> None:
        self.model_bar.manage_models.connect(self.menus.open_models_page)
        self.view.link_requested.connect(self.menus.confirm_link)
        self.view.action_requested.connect(self.turns.message_action)
        self.no_model_page.choose_file.connect(self.menus.choose_model_file)
        self.no_model_page.check_again.connect(lambda: self.load_model(None))
        self.documents.attachments_changed.connect(self.turns.attach_documents)
        self.documents.attachments_changed.connect(self.route_preview.documents_attached)
        # Send never does nothing silently: its tooltip and a notice say why it cannot.
        self.composer_bar.send_requested.connect(self._send_refused)
        self.send_button.installEventFilter(self)
        self.status_bar.loading_changed.connect(lambda _: self._explain_send())
        self._explain_send()
        self.welcome.page.prompt_chosen.connect(self.insert_prompt)
        for changed in (self.view.textChanged, self.turns.conversation_changed,
                        self.status_bar.loading_changed):
            changed.connect(self._sync_welcome)

    def _name_helper_buttons(self) -> None:
        # Buttons Qt adds by itself (a line edit's clear button, the menu bar's overflow).
        for button in self.findChildren(QToolButton):
            if not button.accessibleName():
                button.setAccessibleName(button.toolTip() or "Clear" if isinstance(
                    button.parent(), QLineEdit) else button.toolTip() or "More")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Send's tooltip follows its state (enabled, or why not)."""
        if watched is self.send_button and event.type() == QEvent.Type.EnabledChange:
            self._explain_send()
        return super().eventFilter(watched, event)

    def _send_refusal(self) -> str:
        if self.turns.engine_info is None and not self.turns.loading:
            return NO_MODEL
        if self.turns.loading:
            return "The model is still loading; you can send once it is ready."
        return "Wait for the answer to finish, or press Esc to stop it." if self.busy else ""

    def _explain_send(self) -> None:
        why = "" if self.send_button.isEnabled() else self._send_refusal()
        self.send_button.setToolTip(why or "Send (Enter)")
        self.send_button.setAccessibleDescription(why)

    def _sync_welcome(self, *_: Any) -> None:
        """The welcome shows while a loaded model waits on an empty conversation."""
        self.welcome.show(self.engine_info is not None and not self.view.messages)

    def insert_prompt(self, prompt: str) -> None:
        """A starter or library prompt goes in the composer, ready to finish and send."""
        self.composer.setPlainText(prompt)
        self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.composer.setFocus()

    def _send_refused(self, text: str) -> None:
        if text and self.turns.engine_info is None:
            self.show_notice(self._send_refusal())

    # --- the parts, by the names tests and the benchmark use ----------------------------

    @property
    def composer(self) -> Any:
        """The message box."""
        return self.composer_bar.composer

    @property
    def send_button(self) -> Any:
        """Send."""
        return self.composer_bar.send_button

    @property
    def stop_button(self) -> Any:
        """Stop."""
        return self.composer_bar.stop_button

    @property
    def edit_label(self) -> Any:
        """The notice shown while a message is being edited."""
        return self.composer_bar.edit_label

    @property
    def banner(self) -> Any:
        """The error banner."""
        return self.notices.banner

    @property
    def notice(self) -> Any:
        """The short notice line."""
        return self.notices.notice

    @property
    def restricted_label(self) -> Any:
        """Restricted mode and its reason (``None`` unless the policy failed closed)."""
        return self.notices.restricted_label

    @property
    def route_label(self) -> Any:
        """Where the next message goes."""
        return self.model_bar.route_label

    @property
    def route_picker(self) -> Any:
        """The routes the policy offers."""
        return self.model_bar.route_picker

    @property
    def status_device(self) -> Any:
        """Device and engine state in the status bar."""
        return self.status_bar.device

    @property
    def retention_timer(self) -> QTimer:
        """Runs retention daily while the window is open."""
        return self.conversations.retention_timer

    @property
    def history_lane(self) -> BackgroundLane:
        """The lane every history read and change runs on."""
        return self.conversations.lane

    # --- state (the turn controller holds it) ---------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The conversation on screen (``None``: a new one)."""
        return self.turns.conversation_id

    @property
    def engine_info(self) -> EngineInfo | None:
        """The loaded model, if any."""
        return self.turns.engine_info

    @property
    def busy(self) -> bool:
        """Whether a model loads or an answer streams."""
        return self.turns.busy

    @property
    def loading(self) -> bool:
        """Whether a model loads."""
        return self.turns.loading

    # --- what the menus and the tests ask for ---------------------------------------------

    def send(self, text: str) -> None:
        """Send ``text``, unless an answer is already streaming."""
        self.turns.send(text)
        self._sync_welcome()

    def load_model(self, model_id: Any) -> None:
        """Load a model in the background; the window stays usable."""
        self.turns.load_model(model_id)

    def new_chat(self) -> None:
        """Start a fresh conversation."""
        self.turns.new_chat()

    def regenerate_last(self) -> None:
        """Ctrl+R."""
        self.turns.regenerate_last()

    def edit_message(self, index: int) -> None:
        """Put the user message at ``index`` back into the composer."""
        self.turns.edit_message(index)

    def edit_last(self) -> None:
        """Ctrl+E."""
        self.turns.edit_last()

    def focus_search(self) -> None:
        """Ctrl+F."""
        self.sidebar.focus_search()

    def open_documents(self) -> None:
        """The Documents panel."""
        self.documents.open()

    def copy_last_answer(self) -> None:
        """Ctrl+Shift+C."""
        text = without_reasoning(self.view.last_answer())  # the answer, not its thinking
        if text:
            QApplication.clipboard().setText(text)
            self.show_notice("Answer copied.")

    def show_error(self, message: str, hint: str = "") -> None:
        """Show an error in the window, in words a user understands."""
        self.notices.show_error(message, hint)

    def show_failure(self, error: EnclaveError) -> None:
        """Show a failed job's error (what happened, what to do next)."""
        self.notices.show_failure(error)

    def show_notice(self, text: str) -> None:
        """A short, non-alarming message (copied, exported)."""
        self.notices.show_notice(text)

    def refresh_conversations(self) -> None:
        """List the conversations again."""
        self.conversations.refresh()

    def open_conversation(self, conversation_id: int, focus_message_id: Any = None) -> None:
        """Show a stored conversation, at ``focus_message_id`` when given."""
        self.conversations.open_conversation(conversation_id, focus_message_id)

    def rename_confirmed(self, cid: int, title: str) -> None:
        """Rename after the user typed the new title."""
        self.conversations.rename(cid, title)

    def delete_confirmed(self, cid: int) -> None:
        """Delete after the user confirmed."""
        self.conversations.delete(cid)

    def _search(self, query: str) -> None:
        self.conversations.search(query)

    def apply_settings(self) -> None:
        """After the settings dialog: new turns use the new values; the theme redraws."""
        self.app.chat.params = generation_params(self.app.settings)
        self.app.chat.local.options = engine_options(self.app.settings)
        # The chat view, header and composer redraw on theme_events (see _theme_changed).
        self.dark = apply_theme(str(self.app.settings.get("ui.theme")),
                                int(self.app.settings.get("ui.font_size")))

    def _theme_changed(self, dark: bool) -> None:
        self.dark = dark

    # --- shutdown -------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Stop any answer (it is kept), then wait for the background lanes before closing."""
        self.turns.jobs.cancel.set()
        self.status_bar.stop()
        self.documents.shutdown()  # cancels an ingestion, stops its thread
        self.route_preview.shutdown()
        self.menus.shutdown()  # stops the local API before the app context closes
        self.turns.shutdown()
        self.conversations.shutdown()
        super().closeEvent(event)

    def lanes(self) -> list[BackgroundLane]:
        """Every background lane of this window (tests check they are idle after close)."""
        return [self.turns.lane, self.conversations.lane, self.route_preview.lane,
                *self.menus.lanes()]

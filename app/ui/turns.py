"""Turns in the window: loading a model, sending, streaming, stopping, regenerating, editing.

``TurnController`` owns the chat lane and what a turn shows while it runs: the conversation on
screen, the composer's buttons, the model bar and status bar. Every decision (what may load,
what a turn does, which branch and versions a conversation has) is the core's; this draws what
it reports. After each of these the composer has the focus again, so the user can type on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QStackedWidget, QWidget

from app.core.chat import ROOT
from app.core.conversation_view import ConversationView
from app.core.engines.base import EngineInfo
from app.core.errors import EnclaveError
from app.core.models.errors import ModelNotFound
from app.core.reasoning import without_reasoning
from app.ui.background import BackgroundLane
from app.ui.chat_view import ChatView, shown_from_view
from app.ui.composer import ComposerBar, confirm_outgoing
from app.ui.footer import footer_for
from app.ui.model_bar import ModelBar
from app.ui.notices import NoticeArea
from app.ui.pages import NoModelPage
from app.ui.status_bar import StatusBar
from app.ui.workers import ChatJobs, FinishedTurn, TokenBuffer

FLUSH_MS = 33  # ~30 Hz: smooth to the eye, cheap for the GUI thread


@dataclass(frozen=True)
class TurnParts:
    """The widgets a turn draws on (the window builds them)."""

    view: ChatView
    composer: ComposerBar
    notices: NoticeArea
    model_bar: ModelBar
    status: StatusBar
    stack: QStackedWidget
    no_model_page: NoModelPage


class TurnController(QObject):
    """Model loading and turns for one window, one conversation at a time.

    Args:
        app: The application context (chat service, policy, history).
        parts: The widgets it draws on.
        parent: The window (dialogs are shown over it).
    """

    answer_finished = Signal(object)  # TurnResult, emitted on the GUI thread
    first_token_painted = Signal(float)  # seconds from the engine's token to the paint
    history_changed = Signal()  # a turn stored something: list the conversations again
    # The user chose another version (‹ ›): show the conversation (id) through that message
    # (id). Loading it is the history lane's work, so whoever owns that lane connects this.
    open_requested = Signal(int, int)
    conversation_changed = Signal(object)  # the conversation now on screen: id, or None

    def __init__(self, app: Any, parts: TurnParts, parent: QWidget) -> None:
        super().__init__(parent)
        self.app = app
        self.parts = parts
        self.view = parts.view
        self._window = parent
        self.conversation_id: int | None = None
        self.engine_info: EngineInfo | None = None
        self.busy = False
        self.loading = False
        self.edit_index: int | None = None
        self._shown = 0  # counts what was shown, so a late source check draws only on its own
        self._first_pending = False
        self.buffer = TokenBuffer()
        self.lane = BackgroundLane("enclave-chat", self)
        self.jobs = ChatJobs(app.chat, self.buffer, app.policy, self.lane)
        self.jobs.confirmations.asked.connect(self._confirm_send)
        self.flush_timer = QTimer(self)
        self.flush_timer.setInterval(FLUSH_MS)
        self.flush_timer.timeout.connect(self._flush)
        composer = parts.composer
        composer.send_requested.connect(self.send)
        composer.stop_requested.connect(self.stop)
        parts.model_bar.model_requested.connect(self._model_requested)
        parts.model_bar.route_chosen.connect(self._route_chosen)

    @property
    def answering(self) -> bool:
        """Whether an answer is streaming (a model load does not count)."""
        return self.busy and not self.loading

    # --- models ---------------------------------------------------------------------------

    def list_models(self) -> None:
        """Fill the model picker with what the policy allows (hashing runs on the lane)."""
        self.jobs.list_models(self.parts.model_bar.show_models)

    def load_model(self, model_id: Any) -> None:
        """Load a model in the background; the window stays usable."""
        self.loading = True
        self._set_busy(True)
        self.parts.status.loading_started()
        self.parts.model_bar.model_label.setText("Loading model…")
        self.jobs.load_model(None if model_id is None else str(model_id),
                             on_done=self._on_model_loaded, on_error=self._on_load_failed,
                             on_progress=self.parts.status.progress.setValue)

    def _model_requested(self, model_id: str) -> None:
        if not self.busy:
            self.load_model(model_id)

    def _on_model_loaded(self, info: EngineInfo) -> None:
        self.engine_info = info
        self.loading = False
        self.parts.model_bar.model_label.setText("")
        self.parts.status.show_model(info, info.extra.get("threads_state", ""))
        self.parts.status.loading_ended()
        self.parts.model_bar.show_route(info.route,
                                        "local" if info.route == "local" else "external")
        self.parts.stack.setCurrentWidget(self.view)
        self.parts.notices.clear_error()
        self.parts.model_bar.select_model(info.model_id)
        self._set_busy(False)
        self._focus_composer()

    def _on_load_failed(self, error: EnclaveError) -> None:
        self.loading = False
        self.parts.status.loading_ended()
        self.parts.notices.show_failure(error)
        if self.app.chat.engine is None:  # the failed load may have closed the old model
            self.engine_info = None
            self.parts.model_bar.loaded_model = None
        if isinstance(error, ModelNotFound) and self.engine_info is None:
            self.parts.stack.setCurrentWidget(self.parts.no_model_page)
        self.parts.model_bar.model_label.setText("" if self.engine_info else "No model")
        self._set_busy(False)

    def _route_chosen(self, route: str | None) -> None:
        self.jobs.route = route

    def attach_documents(self, names: list[str], local_only: bool) -> None:
        """Documents attached: sends use them; local-only ones keep the turn here."""
        self.jobs.collections = list(names)
        self.parts.model_bar.show_documents_route(local_only)

    # --- turns ----------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Send the composer's text, unless an answer is already streaming."""
        if not text or self.busy or self.engine_info is None:
            return
        self.parts.notices.clear_error()
        parent_id = None
        if self.edit_index is not None:
            edited = self.view.messages[self.edit_index]
            parent_id = edited.parent_id
            if parent_id is None and self.app.history is not None:
                parent_id = ROOT  # a new first message: a new branch of this conversation
            elif parent_id is None:
                # Nothing is saved, so there are no branches: the edit starts over.
                self.conversation_id = None
            self.view.truncate(self.edit_index)
            self.cancel_edit()
        elif self.view.messages:
            parent_id = self.view.messages[-1].message_id
        self.parts.composer.composer.clear()
        self._focus_composer()  # Send was clicked, or Enter pressed: either way, type on
        self.view.add_user_message(text, None, None if parent_id == ROOT else parent_id)
        self._start_answer()
        self.jobs.send(text, self.conversation_id, parent_id, on_done=self._on_turn_finished,
                       on_error=self._on_failed, on_first_token=self._first_token)

    def regenerate(self, index: int) -> None:
        """Answer the user message before the answer at ``index`` again."""
        if self.busy or self.engine_info is None or index < 1:
            return
        user = self.view.messages[index - 1]
        if self.conversation_id is None or user.message_id is None:
            self.parts.notices.show_error(
                "Regenerating needs the saved history.",
                "This session is not saved; send the question again instead.")
            return
        self.view.truncate(index)
        self._start_answer()
        self._focus_composer()  # the Regenerate link took the focus into the transcript
        self.jobs.regenerate(self.conversation_id, user.message_id,
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
        self.parts.composer.composer.setPlainText(shown.text)
        self.parts.composer.edit_label.show()
        self._focus_composer()

    def edit_last(self) -> None:
        """Ctrl+E."""
        for i in range(len(self.view.messages) - 1, -1, -1):
            if self.view.messages[i].role == "user":
                self.edit_message(i)
                return

    def cancel_edit(self) -> None:
        """Leave editing; the composer keeps its text."""
        self.edit_index = None
        self.parts.composer.edit_label.hide()

    def stop(self) -> None:
        """Stop the streaming answer (kept, marked incomplete)."""
        if self.answering:
            self.jobs.cancel.set()
        self._focus_composer()  # the Stop button is about to be disabled under the focus

    def escape(self) -> None:
        """Esc: stop the answer, or else leave editing."""
        if self.busy:
            self.stop()
        elif self.edit_index is not None:
            self.cancel_edit()
            self.parts.composer.composer.clear()

    def new_chat(self) -> None:
        """Start a fresh conversation."""
        if self.answering:
            return
        self.conversation_id = None
        self._shown += 1  # a check of the sources shown before has nothing left to draw on
        self.cancel_edit()
        self.view.clear_messages()
        self.parts.notices.clear_error()
        self._focus_composer()
        self.conversation_changed.emit(None)

    def show_conversation(self, view: ConversationView,
                          focus_message_id: int | None = None) -> None:
        """Show a stored conversation's branch; the next message continues it.

        Args:
            view: The branch as the core's ``view_conversation`` returned it, with each
                message's versions and each answer's sources.
            focus_message_id: The message to scroll to (a search hit, a chosen version).
        """
        self.conversation_id = view.conversation_id
        self.cancel_edit()
        self.view.set_messages(shown_from_view(view))
        if focus_message_id is not None:
            self.view.scroll_to_message(focus_message_id)
        self._focus_composer()
        self._check_sources([s for shown in view.messages for s in shown.sources])
        self.conversation_changed.emit(view.conversation_id)

    def _check_sources(self, cited: list[Any]) -> None:
        """Ask the core what the cited documents have become; draw it when it answers."""
        self._shown += 1
        shown = self._shown

        def checked(states: list[str]) -> None:
            if shown == self._shown:  # still the same conversation on screen
                self.view.set_source_status(
                    {(s.message_id, s.n): state for s, state in zip(cited, states, strict=True)})

        self.jobs.source_status(cited, checked)

    def show_version(self, index: int, step: int) -> None:
        """‹ (``step`` -1) or › (+1) on the message at ``index``: ask for that version's branch."""
        if self.busy or self.conversation_id is None or not 0 <= index < len(self.view.messages):
            return
        versions = self.view.messages[index].versions
        if versions is None:
            return
        target = versions.previous if step < 0 else versions.next
        if target is not None:
            self.open_requested.emit(self.conversation_id, target)

    def message_action(self, verb: str, index: int) -> None:
        """A message's own action (copy, copy code, regenerate, edit, previous/next version)."""
        if verb == "copy-code":
            if 0 <= index < len(self.view.code_blocks):
                QApplication.clipboard().setText(self.view.code_blocks[index])
                self.parts.notices.show_notice("Code copied.")
            return
        if not 0 <= index < len(self.view.messages):
            return
        if verb == "copy":
            shown = self.view.messages[index]  # an answer's thinking is not copied with it
            QApplication.clipboard().setText(
                without_reasoning(shown.text) if shown.role == "assistant" else shown.text)
            self.parts.notices.show_notice("Answer copied.")
        elif verb == "regenerate":
            self.regenerate(index)
        elif verb == "edit":
            self.edit_message(index)
        elif verb in ("previous", "next"):
            self.show_version(index, -1 if verb == "previous" else 1)

    # --- while an answer streams ----------------------------------------------------------

    def _start_answer(self) -> None:
        assert self.engine_info is not None
        self.buffer.reset()
        self._first_pending = True
        self.view.begin_answer(self.engine_info.model_id)
        self._set_busy(True)
        self.flush_timer.start()

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

    def _on_turn_finished(self, finished: FinishedTurn) -> None:
        result = finished.result
        self.flush_timer.stop()
        self._flush()
        new = self.conversation_id != result.conversation_id
        self.conversation_id = result.conversation_id
        c = result.completion
        self.view.set_user_id(result.user_message_id)
        self.view.end_answer(
            c.text, footer_for(result.engine.model_id, result.engine.route, c.tokens_per_s,
                               c.ttft_s * 1000, c.complete, c.finish_reason, c.error),
            result.assistant_message_id, result.user_message_id, c.complete,
            result.sources or ())
        self.view.set_versions(finished.versions)  # an edit or a regenerate: ‹ 2/2 ›
        notes = [n for n in (result.route_note, *result.notes) if n]
        if notes:  # kept local, copied markers taken out, later turns left on their branch
            self.parts.notices.show_notice(" ".join(notes))
        engine = self.app.chat.engine
        if result.engine.route == "local" and engine is not None:
            self.parts.status.show_engine(engine.info, c.engine_state)
        self._set_busy(False)
        if new:
            self.conversation_changed.emit(result.conversation_id)
        if new or self.app.history is not None:
            self.history_changed.emit()
        self.answer_finished.emit(result)

    def _on_failed(self, error: EnclaveError) -> None:
        conversation = getattr(error, "conversation_id", None)
        if conversation is not None and conversation != self.conversation_id:
            self.conversation_id = conversation  # saved with its answer so far: stay in it
            self.conversation_changed.emit(conversation)
        self.flush_timer.stop()
        self._flush()
        if self.view.streaming():
            self.view.end_answer(self.view.answer_text(), "incomplete (error)", complete=False)
        self.parts.notices.show_failure(error)
        self._set_busy(False)
        if self.app.history is not None:
            self.history_changed.emit()

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        # No model, nothing to send to: the banner or the no-model page says what to do.
        self.parts.composer.enable(send=not busy and self.engine_info is not None,
                                   stop=busy and not self.loading)
        self.parts.model_bar.model_picker.setEnabled(not busy)

    def _focus_composer(self) -> None:
        self.parts.composer.composer.setFocus()

    def _confirm_send(self, outgoing: str, route: str) -> None:
        self.jobs.confirmations.answer(confirm_outgoing(self._window, outgoing, route))

    def shutdown(self) -> None:
        """Stop any answer (it is kept) and wait for the chat lane (the window is closing)."""
        self.jobs.cancel.set()
        self.flush_timer.stop()
        self.lane.shutdown()

"""What the window asks of the core, each request a job on a ``BackgroundLane``.

``ChatJobs`` runs model listing, model loading, turns and the checks of cited documents (whose
index turns read) on the chat lane: llama.cpp serves one request at a time, so they queue.
Tokens arrive on that lane's thread and go into a small locked buffer; the GUI drains it on a
~30 Hz timer, so painting cost does not scale with the token rate and the GUI thread never
waits on inference.

``HistoryJobs`` runs every database read and change the window needs on the history lane, so a
slow query never freezes the window. Results and typed errors come back on the GUI thread
(see ``app.ui.background``); no job touches a widget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.core.chat import ChatService, TurnResult
from app.core.context import apply_retention
from app.core.conversation_view import (
    ConversationView,
    Versions,
    view_conversation,
)
from app.core.engines.base import EngineInfo
from app.core.errors import EnclaveError
from app.core.history_actions import (
    delete_conversation,
    export_conversation,
    rename_conversation,
)
from app.core.models.choices import ModelChoice, model_choices
from app.core.store import HistoryStore
from app.ui.background import BackgroundLane, ErrorHandler


class TokenBuffer:
    """Pieces of text handed from the worker thread to the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pieces: list[str] = []
        self.first_token_at: float | None = None  # perf_counter when the engine produced it

    def push(self, piece: str) -> bool:
        """Called on the worker thread for each token; True for the answer's first one."""
        with self._lock:
            first = self.first_token_at is None
            if first:
                self.first_token_at = time.perf_counter()
            self._pieces.append(piece)
            return first

    def reset(self) -> None:
        """Forget the previous answer's timing (GUI thread, before a turn starts)."""
        with self._lock:
            self._pieces.clear()
            self.first_token_at = None

    def drain(self) -> str:
        """Called on the GUI thread: everything since the last drain."""
        with self._lock:
            if not self._pieces:
                return ""
            text = "".join(self._pieces)
            self._pieces.clear()
            return text


class ConfirmBridge(QObject):
    """Asks the GUI thread whether to send a redacted request, for a turn that waits for it.

    Lives on the GUI thread; ``asked`` is emitted on the chat lane's thread and arrives queued.
    """

    asked = Signal(str, str)  # exact outgoing text, route name

    def __init__(self, cancel: threading.Event, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = cancel
        self._answered = threading.Event()
        self._answer = False

    def confirm(self, outgoing: str, decision: Any) -> bool:
        """On the chat lane's thread: ask, and wait for the user (or a cancel)."""
        self._answered.clear()
        self._answer = False
        self.asked.emit(outgoing, str(decision.route))
        while not self._answered.wait(0.1):
            if self._cancel.is_set():
                return False
        return self._answer

    def answer(self, send: bool) -> None:
        """On the GUI thread: the user's choice."""
        self._answer = send
        self._answered.set()


@dataclass(frozen=True)
class FinishedTurn:
    """A finished turn, and what the history says about it now (read on the chat lane).

    Attributes:
        result: What the turn produced.
        versions: The versions of each message on the answer's branch, by message id
            (empty when nothing is saved).
    """

    result: TurnResult
    versions: dict[int, Versions] = field(default_factory=dict)


class ChatJobs:
    """Model listing, model loading and turns, one at a time on the chat lane.

    Args:
        chat: The core's chat service.
        buffer: Where a turn's tokens go for the GUI's flush timer.
        policy: The effective policy (decides which models are offered).
        lane: The chat lane.
    """

    def __init__(self, chat: ChatService, buffer: TokenBuffer, policy: Any,
                 lane: BackgroundLane) -> None:
        self.chat = chat
        self.buffer = buffer
        self.policy = policy
        self.lane = lane
        self.cancel = threading.Event()
        self.route: str | None = None  # set by the window's route picker (GUI thread)
        self.collections: list[str] = []  # documents attached in the window (GUI thread)
        self.confirmations = ConfirmBridge(self.cancel, lane)

    def list_models(self, on_done: Callable[[list[ModelChoice]], None]) -> None:
        """Installed models the policy allows (hashing files runs on the lane)."""
        self.lane.run(lambda: model_choices(self.chat.registry, self.policy),
                      on_done=on_done, what="Listing the models")

    def load_model(self, model_id: str | None, *, on_done: Callable[[EngineInfo], None],
                   on_error: ErrorHandler, on_progress: Callable[[int], None]) -> None:
        """Load a model (``None``: the default); progress arrives as whole percents."""
        def work(report: Callable[[int], None]) -> EngineInfo:
            shown = -1

            def progress(fraction: float) -> bool:
                nonlocal shown
                percent = int(fraction * 100)
                if percent != shown:  # a signal per percent, not per llama.cpp callback
                    shown = percent
                    report(percent)
                return True

            return self.chat.load_model(model_id, on_progress=progress)

        self.lane.run(work, on_done=on_done, on_error=on_error, on_progress=on_progress,
                      what="Loading the model")

    def send(self, text: str, conversation_id: int | None, parent_id: int | None, *,
             on_done: Callable[[FinishedTurn], None], on_error: ErrorHandler,
             on_first_token: Callable[[object], None]) -> None:
        """Run one turn, streaming into the buffer."""
        route = self.route
        # A snapshot (the GUI may change it mid-turn), always a list: the chips on screen are
        # the conversation's scope (drawn from the view when it opened), so an emptied scope
        # is sent as empty rather than left to a saved one a slower lane has not cleared yet.
        collections = list(self.collections)
        self._turn(lambda on_token: self.chat.send(
            text, conversation_id=conversation_id, parent_id=parent_id, on_token=on_token,
            cancel=self.cancel, route=route, confirm=self.confirmations.confirm,
            collections=collections), on_done, on_error, on_first_token)

    def regenerate(self, conversation_id: int, user_message_id: int, *,
                   on_done: Callable[[FinishedTurn], None], on_error: ErrorHandler,
                   on_first_token: Callable[[object], None]) -> None:
        """Answer a stored user message again (the earlier answer stays in history)."""
        route = self.route
        self._turn(lambda on_token: self.chat.regenerate(
            conversation_id, user_message_id, on_token=on_token, cancel=self.cancel,
            route=route, confirm=self.confirmations.confirm), on_done, on_error, on_first_token)

    def _turn(self, turn: Callable[[Callable[[str], None]], TurnResult],
              on_done: Callable[[FinishedTurn], None], on_error: ErrorHandler,
              on_first_token: Callable[[object], None]) -> None:
        def work(report: Callable[[object], None]) -> FinishedTurn:
            def on_token(piece: str) -> None:
                # The first piece is reported at once, so it is painted without waiting for
                # the next tick of the GUI's 30 Hz flush timer; later pieces wait for the tick.
                if self.buffer.push(piece):
                    report(None)

            try:
                result = turn(on_token)
            finally:
                self.cancel.clear()
            return self._finished(result)

        self.lane.run(work, on_done=on_done, on_error=on_error, on_progress=on_first_token,
                      what="The answer")

    def _finished(self, result: TurnResult) -> FinishedTurn:
        """Read the versions on the answer's branch (an edit or a regenerate adds one)."""
        history = self.chat.history
        answer = result.assistant_message_id
        if history is None or answer is None:
            return FinishedTurn(result)
        try:
            view = view_conversation(history, result.conversation_id, answer)
        except EnclaveError:
            # The answer itself is saved; a conversation deleted meanwhile only loses arrows.
            return FinishedTurn(result)
        return FinishedTurn(result, {m.message.id: m.versions for m in view.messages})

    def source_status(self, sources: Sequence[Any],
                      on_done: Callable[[list[str]], None]) -> None:
        """What each cited document is now (``current``, ``changed``, ``removed``, ``unknown``).

        The document index shares this lane with the turns that read it; the embedding model
        is not needed.
        """
        documents = self.chat.documents
        if documents is None or not sources:
            return
        cited = list(sources)

        def work() -> list[str]:
            return [str(state) for state in documents.source_status(cited)]

        self.lane.run(work, on_done=on_done, what="Checking the cited documents")


def _ignore(_: object) -> None:
    """A change with nothing to show when it is done (a failure still shows)."""


@dataclass(frozen=True)
class Exported:
    """A finished export: the file, and for a PDF the Markdown still to be printed."""

    conversation_id: int
    path: str
    pdf_markdown: str | None = None


class HistoryJobs:
    """Database reads and changes for the window; one at a time, in order, on the history lane.

    Args:
        history: The store, or ``None`` in a session that is not saved.
        ctx: The application context (policy, settings, audit).
        lane: The history lane.
        on_error: Shows a failed job's error (GUI thread).
    """

    def __init__(self, history: HistoryStore | None, ctx: Any, lane: BackgroundLane,
                 on_error: ErrorHandler) -> None:
        self.history = history
        self.ctx = ctx
        self.lane = lane
        self.on_error = on_error
        self._latest_search = 0

    def _run(self, work: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        self.lane.run(work, on_done=on_done, on_error=self.on_error, what="Reading the history")

    def _listed(self) -> list[Any]:
        return self.history.list_conversations(limit=500) if self.history else []

    def list_conversations(self, on_done: Callable[[list[Any]], None]) -> None:
        """Newest first, pinned on top (the store's order)."""
        self._run(self._listed, on_done)

    def search(self, query: str, on_done: Callable[[list[Any]], None]) -> None:
        """Full-text search; a search overtaken by a newer one is neither run nor shown."""
        self._latest_search += 1
        request = self._latest_search

        def work() -> list[Any] | None:
            if request != self._latest_search:
                return None
            if self.history is None or not query.strip():
                return []
            return self.history.search(query, limit=50)

        def done(hits: list[Any] | None) -> None:
            if hits is not None and request == self._latest_search:
                on_done(hits)

        self._run(work, done)

    def load_view(self, conversation_id: int, through: int | None,
                  on_done: Callable[[ConversationView | None], None]) -> None:
        """The conversation as the window shows it, with its versions, sources and collections.

        The branch is the one through ``through`` (a search hit, a version), else the newest.
        """
        history = self.history

        def work() -> ConversationView | None:
            if history is None:
                return None  # nothing saved: there is nothing to open
            return view_conversation(history, conversation_id, through)

        self._run(work, on_done)

    def load_scope(self, conversation_id: int, on_done: Callable[[list[str]], None]) -> None:
        """The collections a conversation answers from (saved, or kept for this session)."""
        conversations = self.ctx.chat.conversations
        self._run(lambda: list(conversations.scope(conversation_id)), on_done)

    def set_scope(self, conversation_id: int, names: list[str]) -> None:
        """Make ``names`` the collections this conversation (only) answers from."""
        conversations = self.ctx.chat.conversations
        self._run(lambda: conversations.set_scope(conversation_id, list(names)), _ignore)

    def add_to_scope(self, conversation_id: int, name: str) -> None:
        """Add one collection to a conversation's scope (a collection made for it)."""
        conversations = self.ctx.chat.conversations

        def work() -> None:
            names = list(conversations.scope(conversation_id))
            if name not in names:
                conversations.set_scope(conversation_id, [*names, name])

        self._run(work, _ignore)

    def _change(self, change: Callable[[HistoryStore], object],
                on_done: Callable[[list[Any]], None]) -> None:
        history = self.history
        if history is None:
            return

        def work() -> list[Any]:
            change(history)
            return self._listed()

        self._run(work, on_done)

    def rename(self, conversation_id: int, title: str,
               on_done: Callable[[list[Any]], None]) -> None:
        """Rename (the core checks and cleans the title); ``on_done`` gets the list again."""
        self._change(lambda h: rename_conversation(h, conversation_id, title), on_done)

    def pin(self, conversation_id: int, pinned: bool,
            on_done: Callable[[list[Any]], None]) -> None:
        """Pin or unpin; ``on_done`` gets the conversations listed again."""
        self._change(lambda h: h.pin(conversation_id, pinned), on_done)

    def delete(self, conversation_id: int, on_done: Callable[[list[Any]], None]) -> None:
        """Delete and record it; ``on_done`` gets the conversations listed again."""
        self._change(lambda h: delete_conversation(h, self.ctx.audit, conversation_id), on_done)

    def apply_retention(self, on_done: Callable[[list[Any]], None]) -> None:
        """Delete what the retention setting says is too old; list again."""
        self._change(lambda h: apply_retention(h, self.ctx.settings, self.ctx.audit), on_done)

    def export(self, conversation_id: int, fmt: str, path: str,
               on_done: Callable[[Exported], None]) -> None:
        """Write an export (Markdown, JSON) and record it; PDF comes back to be printed."""
        def work() -> Exported:
            text = export_conversation(self.ctx.policy, self.history, self.ctx.audit,
                                       conversation_id, fmt, path=path)
            if fmt == "pdf":
                return Exported(conversation_id, path, text)
            try:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                raise EnclaveError(f"Cannot write {path}: {exc.strerror or exc}.",
                                   "Choose a folder you may write to.") from None
            return Exported(conversation_id, path)

        self._run(work, on_done)

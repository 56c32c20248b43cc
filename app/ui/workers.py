"""Background work for the GUI: model loading, chat turns and history reads off the GUI thread.

A ``ChatWorker`` lives in its own QThread. Tokens arrive from the engine on that thread and go
into a small locked buffer; the GUI drains the buffer on a ~30 Hz timer, so painting cost does
not scale with the token rate and the GUI thread never waits on inference.

A ``HistoryWorker`` lives in a second QThread and does every database read the window needs
(conversation list, full-text search, loading a conversation), so a slow query never freezes
the window. Results come back as queued signals; neither worker touches a widget.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.core.chat import ChatService
from app.core.errors import EnclaveError
from app.core.history_actions import delete_conversation, export_conversation
from app.core.store import HistoryStore

_LIVE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """Worker threads started by the GUI that are still running (tests check none is left)."""
    return [t for t in list(_LIVE_THREADS) if t.isRunning()]


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


_QUANT = re.compile(r"(?i)(?:^|[._-])((?:I?Q\d+(?:_[A-Z0-9]+)*)|F16|BF16|F32)(?:[._-]|$)")


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker: what the policy allows, described for people."""

    id: str
    name: str
    size: int
    quantization: str
    verified: bool  # the file's SHA-256 matches the approved catalog's pin
    sha256: str


def quantization_of(file_name: str) -> str:
    """The quantization named in a GGUF file name (``Q4_1``), or ``"?"``."""
    match = _QUANT.search(file_name.removesuffix(".gguf"))
    return match.group(1).upper() if match else "?"


class ChatWorker(QObject):
    """Runs ``ChatService`` calls; results come back as queued signals."""

    model_loaded = Signal(object)  # EngineInfo
    models_listed = Signal(object)  # list[ModelChoice]
    turn_finished = Signal(object)  # TurnResult
    first_token = Signal()  # the answer's first piece is in the buffer: paint it now
    failed = Signal(str, str)  # message, hint
    failed_in = Signal(int)  # the conversation a failed turn was saved in
    load_failed = Signal(str, str)  # message, hint (loading a model)
    confirm_requested = Signal(str, str)  # exact outgoing text, route name

    def __init__(self, chat: ChatService, buffer: TokenBuffer, policy: Any = None) -> None:
        super().__init__()
        self.chat = chat
        self.buffer = buffer
        self.policy = policy
        self.cancel = threading.Event()
        self.load_fraction = 0.0
        self.route: str | None = None  # set by the window's route picker (GUI thread)
        self.collections: list[str] = []  # documents attached in the window (GUI thread)
        self._answered = threading.Event()
        self._answer = False

    def confirm(self, outgoing: str, decision: Any) -> bool:
        """Ask the GUI thread whether to send, and wait for the user (on this thread)."""
        self._answered.clear()
        self._answer = False
        self.confirm_requested.emit(outgoing, str(decision.route))
        while not self._answered.wait(0.1):
            if self.cancel.is_set():
                return False
        return self._answer

    def answer_confirmation(self, send: bool) -> None:
        """Called on the GUI thread with the user's choice."""
        self._answer = send
        self._answered.set()

    @Slot()
    def list_models(self) -> None:
        """Installed models the policy allows (hashing files runs here, not on the GUI)."""
        choices: list[ModelChoice] = []
        registry = self.chat.registry
        try:
            installed = registry.installed()
        except Exception:  # noqa: BLE001 - an unreadable directory lists nothing
            installed = []
        for model in installed:
            try:
                digest = registry.sha256(model)
            except Exception:  # noqa: BLE001 - a file that cannot be read is not offered
                continue
            if self.policy is not None and not self.policy.check_model(digest).allowed:
                continue
            pinned = getattr(model, "catalog", None)
            choices.append(ModelChoice(
                id=model.id, name=model.display_name, size=model.size,
                quantization=quantization_of(model.path.name),
                verified=pinned is not None and getattr(pinned, "sha256", None) == digest,
                sha256=digest,
            ))
        self.models_listed.emit(choices)

    @Slot(object)
    def load_model(self, model_id: Any) -> None:
        """Load a model (``None``: the default)."""
        self.load_fraction = 0.0
        try:
            info = self.chat.load_model(model_id, on_progress=self._progress)
        except EnclaveError as exc:
            self.load_failed.emit(exc.message, exc.hint)
            return
        except Exception as exc:  # noqa: BLE001 - a worker must never die silently
            self.load_failed.emit(
                f"Loading the model failed unexpectedly ({type(exc).__name__}).",
                "Details are in the log file.")
            return
        self.load_fraction = 1.0
        self.model_loaded.emit(info)

    def _progress(self, fraction: float) -> bool:
        # Called from inside llama.cpp (a ctypes callback): touching Qt here crashed the
        # interpreter at exit, so only store the number; the GUI polls it.
        self.load_fraction = fraction
        return True

    @Slot(str, object, object)
    def send(self, text: str, conversation_id: Any, parent_id: Any = None) -> None:
        """Run one turn, streaming into the buffer."""
        route = self.route
        collections = list(self.collections)  # snapshot: the GUI may change it mid-turn
        self._run(lambda: self.chat.send(
            text, conversation_id=conversation_id, parent_id=parent_id,
            on_token=self._on_token, cancel=self.cancel, route=route, confirm=self.confirm,
            collections=collections or None))

    @Slot(int, int)
    def regenerate(self, conversation_id: int, user_message_id: int) -> None:
        """Answer a stored user message again (the earlier answer stays in history)."""
        route = self.route
        self._run(lambda: self.chat.regenerate(
            conversation_id, user_message_id, on_token=self._on_token, cancel=self.cancel,
            route=route, confirm=self.confirm))

    def _on_token(self, piece: str) -> None:
        # The first piece is signalled at once, so it is painted without waiting for the
        # next tick of the GUI's 30 Hz flush timer; later pieces wait for the tick.
        if self.buffer.push(piece):
            self.first_token.emit()

    def _run(self, turn: Any) -> None:
        try:
            result = turn()
        except EnclaveError as exc:
            conversation = getattr(exc, "conversation_id", None)
            if conversation is not None:  # saved with its answer so far: stay in it
                self.failed_in.emit(conversation)
            self.failed.emit(exc.message, exc.hint)
            return
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(f"The answer failed unexpectedly ({type(exc).__name__}).",
                             "Your conversation is kept. Details are in the log file.")
            return
        finally:
            self.cancel.clear()
        self.turn_finished.emit(result)


class HistoryWorker(QObject):
    """Database reads for the window; one at a time, in order, off the GUI thread."""

    conversations_listed = Signal(object)  # list[Conversation]
    search_done = Signal(int, object)  # request number, list[SearchHit]
    conversation_loaded = Signal(int, object, object)  # id, branch (list[Message]), focus id
    exported = Signal(str)  # the file written
    pdf_ready = Signal(int, str, str)  # id, path, Markdown to print
    failed = Signal(str, str)

    def __init__(self, history: HistoryStore | None, chat: ChatService, ctx: Any = None) -> None:
        super().__init__()
        self.history = history
        self.chat = chat
        self.ctx = ctx
        self.latest_search = 0  # written by the GUI thread: stale searches are skipped

    @Slot()
    def list_conversations(self) -> None:
        """Newest first, pinned on top (the store's order)."""
        if self.history is None:
            self.conversations_listed.emit([])
            return
        self._guard(lambda: self.conversations_listed.emit(
            self.history.list_conversations(limit=500) if self.history else []))

    @Slot(int, str)
    def search(self, request: int, query: str) -> None:
        """Full-text search; a request overtaken by a newer one is not run."""
        if request != self.latest_search:
            return
        if self.history is None or not query.strip():
            self.search_done.emit(request, [])
            return
        self._guard(lambda: self.search_done.emit(
            request, self.history.search(query, limit=50) if self.history else []))

    @Slot(int, object)
    def load_conversation(self, conversation_id: int, focus_message_id: Any = None) -> None:
        """The branch to show: the one through ``focus_message_id`` (a search hit), else newest."""
        def load() -> None:
            branch = self.chat.branch(conversation_id)
            if focus_message_id is not None and all(m.id != focus_message_id for m in branch):
                # The hit sits on an older branch: show the newest leaf below it.
                stored = self.history.messages(conversation_id) if self.history else []
                leaf = focus_message_id
                children: dict[int, int] = {}
                for m in stored:
                    if m.parent_id is not None:
                        children[m.parent_id] = m.id  # later siblings win: newest branch
                while leaf in children:
                    leaf = children[leaf]
                branch = self.chat.branch(conversation_id, leaf)
            self.conversation_loaded.emit(conversation_id, branch, focus_message_id)

        self._guard(load)

    @Slot(str, int, object)
    def modify(self, action: str, conversation_id: int, value: Any) -> None:
        """Rename, pin or delete a conversation, then list them again."""
        def work() -> None:
            assert self.history is not None
            if action == "rename":
                self.history.rename(conversation_id, str(value))
            elif action == "pin":
                self.history.pin(conversation_id, bool(value))
            elif action == "delete":
                delete_conversation(self.history, self.ctx.audit, conversation_id)
            elif action == "retention":
                from app.core.context import apply_retention

                apply_retention(self.history, self.ctx.settings, self.ctx.audit)
            self.conversations_listed.emit(self.history.list_conversations(limit=500))

        if self.history is not None:
            self._guard(work)

    @Slot(int, str, str)
    def export(self, conversation_id: int, fmt: str, path: str) -> None:
        """Write an export (Markdown, JSON) and record it; PDF goes back to be printed."""
        def work() -> None:
            text = export_conversation(self.ctx.policy, self.history, self.ctx.audit,
                                       conversation_id, fmt, path=path)
            if fmt == "pdf":
                self.pdf_ready.emit(conversation_id, path, text)
                return
            try:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                raise EnclaveError(f"Cannot write {path}: {exc.strerror or exc}.",
                                   "Choose a folder you may write to.") from None
            self.exported.emit(path)

        self._guard(work)

    def _guard(self, work: Any) -> None:
        run_guarded(work, self.failed, "Reading the history")


def run_guarded(work: Callable[[], object], failed: Any, what: str) -> None:
    """Run a worker's job; any error becomes ``failed(message, hint)``, never a dead thread."""
    try:
        work()
    except EnclaveError as exc:
        failed.emit(exc.message, exc.hint)
    except Exception as exc:  # noqa: BLE001 - a worker must never die silently
        logging.getLogger(__name__).exception("%s failed", what)
        failed.emit(f"{what} failed ({type(exc).__name__}).", "Details are in the log file.")


def start_worker_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` to a new, started QThread."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    _LIVE_THREADS.add(thread)
    return thread


def stop_worker_thread(thread: QThread) -> None:
    """Ask the thread's event loop to end and wait for it (the current job finishes first)."""
    thread.quit()
    thread.wait()

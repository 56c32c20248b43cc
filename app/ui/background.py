"""The GUI's one way to run work off the GUI thread.

A ``BackgroundLane`` runs jobs one at a time, in the order they were asked for, on one pool
thread (the spirit of Anki's ``CollectionOp``: one serialized worker owns a resource). A job is
a plain Python callable that never touches a widget. What it returns, what it raises and what
it reports as progress cross back to the GUI thread as Python objects on queued signals:

    lane.run(lambda: history.list_conversations(), on_done=sidebar.show_conversations,
             on_error=window.show_failure)

Errors arrive typed: an ``EnclaveError`` as raised (its subclass and attributes intact, so a
handler can ask ``isinstance(exc, ModelNotFound)``); anything else is logged with its traceback
and arrives as an ``EnclaveError`` that says the work failed. No traceback reaches a user.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from app.core.errors import EnclaveError

T = TypeVar("T")
P = TypeVar("P")
ErrorHandler = Callable[[EnclaveError], None]

log = logging.getLogger(__name__)
_LIVE_LANES: weakref.WeakSet[BackgroundLane] = weakref.WeakSet()


def busy_lanes() -> list[str]:
    """Names of lanes that still have a job queued or running (tests check none is left)."""
    return [lane.name for lane in list(_LIVE_LANES) if lane.active]


class _Relay(QObject):
    """Lives on the GUI thread; its signals, emitted from the pool thread, arrive queued."""

    done = Signal(object)
    failed = Signal(object)
    progress = Signal(object)


class _Job(QRunnable, Generic[T]):
    def __init__(self, work: Callable[[], T], relay: _Relay, what: str) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._work = work
        self._relay = relay
        self._what = what

    def run(self) -> None:
        try:
            result = self._work()
        except EnclaveError as exc:
            self._relay.failed.emit(exc)
        except Exception as exc:  # noqa: BLE001 - a job must never die silently
            log.exception("%s failed", self._what)
            self._relay.failed.emit(EnclaveError(
                f"{self._what} failed unexpectedly ({type(exc).__name__}).",
                "Details are in the log file."))
        else:
            self._relay.done.emit(result)


class BackgroundLane(QObject):
    """Jobs run one at a time, in order, on one thread; results come back on the GUI thread.

    Args:
        name: Names the lane's thread in logs and leak reports (``enclave-chat``).
        parent: The owning QObject (created on the GUI thread).
    """

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName(name)
        # Created before any relay, so that, as children are destroyed in order, the pool
        # (which waits for its job) goes before the objects the job emits on.
        self._pool = QThreadPool(self)
        self._pool.setObjectName(name)
        self._pool.setMaxThreadCount(1)
        self._pending: set[_Relay] = set()
        self._closed = False
        _LIVE_LANES.add(self)

    @property
    def active(self) -> bool:
        """Whether a job is queued or running."""
        try:
            return bool(self._pending) or self._pool.activeThreadCount() > 0
        except RuntimeError:  # destroyed with its window; the pool waited for its job then
            return False

    @overload
    def run(self, work: Callable[[], T], *, on_done: Callable[[T], None] | None = None,
            on_error: ErrorHandler | None = None, what: str = "Background work") -> None: ...

    @overload
    def run(self, work: Callable[[Callable[[P], None]], T], *,
            on_done: Callable[[T], None] | None = None, on_error: ErrorHandler | None = None,
            on_progress: Callable[[P], None], what: str = "Background work") -> None: ...

    def run(self, work: Callable[..., Any], *, on_done: Callable[[Any], None] | None = None,
            on_error: ErrorHandler | None = None,
            on_progress: Callable[[Any], None] | None = None,
            what: str = "Background work") -> None:
        """Queue ``work``; call it on the lane's thread, then a handler on the GUI thread.

        Args:
            work: The job. Takes no argument, or, when ``on_progress`` is given, one: a
                function it calls (on its own thread) with each progress value.
            on_done: Called on the GUI thread with what ``work`` returned.
            on_error: Called on the GUI thread with the ``EnclaveError`` it raised; without
                one, the error is logged.
            on_progress: Called on the GUI thread with each value ``work`` reported.
            what: Names the work in the message of an unexpected error (``"Loading the
                model"``).
        """
        if self._closed:
            return  # the window is closing: nobody is left to use the result
        relay = _Relay()  # on the GUI thread: queued slots run there
        queued = Qt.ConnectionType.QueuedConnection
        relay.done.connect(lambda value: self._finish(relay, on_done, value), queued)
        relay.failed.connect(lambda exc: self._finish(relay, on_error or _log_error, exc),
                             queued)
        job_work: Callable[[], Any] = work
        if on_progress is not None:
            relay.progress.connect(on_progress, queued)
            job_work = lambda: work(relay.progress.emit)  # noqa: E731
        self._pending.add(relay)
        self._pool.start(_Job(job_work, relay, what))

    def _finish(self, relay: _Relay, handler: Callable[[Any], None] | None, value: Any) -> None:
        self._pending.discard(relay)
        relay.deleteLater()
        if handler is not None and not self._closed:
            handler(value)

    def shutdown(self) -> None:
        """Drop queued jobs, wait for the running one and let the thread end (window closing).

        Results of the last job are not delivered: whoever asked for them is going away.
        """
        self._closed = True
        self._pool.clear()
        self._pool.waitForDone()
        for relay in self._pending:
            relay.deleteLater()
        self._pending.clear()


def _log_error(exc: EnclaveError) -> None:
    log.warning("background work failed: %s", exc.message)

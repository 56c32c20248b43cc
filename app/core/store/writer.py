"""The single writer: one thread owns the write connection and commits each request.

Callers hand it a function and block until that function's transaction has committed (or
failed and rolled back), so an acknowledged write is on disk. Serialising writes in one
thread also keeps SQLite from ever seeing two writers in this process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from app.core.store.database import Connection
from app.core.store.errors import StoreClosed

T = TypeVar("T")

_STOP = object()


class Writer:
    """Owns ``conn``; runs each submitted function in its own ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    def submit(self, func: Callable[[Connection], T]) -> T:
        """Run ``func(conn)`` in a transaction on the writer thread; return once committed.

        Raises:
            StoreClosed: if the writer was closed.
        """
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise StoreClosed("The history store is closed.", "Open it again.")
            self._queue.put((func, future))
        return future.result()

    def close(self) -> None:
        """Finish queued writes, stop the thread and close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                func, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = func(self._conn)
                        self._conn.execute("COMMIT")
                    except BaseException:
                        # Some errors (disk full, I/O) have already rolled back.
                        if self._conn.in_transaction:
                            self._conn.execute("ROLLBACK")
                        raise
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            self._conn.close()

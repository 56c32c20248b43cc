"""Two connections to one encrypted database: one writer thread, one locked reader.

The history and the documents index both keep their tables in the same SQLCipher file and
share this plumbing: writes are serialised on a single thread and acknowledged once
committed; reads use their own connection behind a lock so they never wait on a write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from app.core.store.database import Connection, translate_errors
from app.core.store.errors import StoreClosed
from app.core.store.writer import Writer

T = TypeVar("T")


class EncryptedTables:
    """Base of the stores that live in the encrypted database."""

    what = "store"  # named in the error when it is used after close()

    def __init__(self, path: Path, write_conn: Connection, read_conn: Connection) -> None:
        self.path = path
        self._writer = Writer(write_conn)
        self._read = read_conn
        self._read_lock = threading.Lock()
        self._closed = False

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock:
            if self._closed:
                raise StoreClosed(f"The {self.what} is closed.", "Open it again.")
            with translate_errors(self.path):
                return list(self._read.execute(sql, tuple(params)).fetchall())

    def _write(self, func: Callable[[Connection], T]) -> T:
        """Run ``func(conn)`` in one transaction on the writer thread; return once committed."""
        with translate_errors(self.path):
            return self._writer.submit(func)

    def integrity_problems(self) -> list[str]:
        """What the page checks find wrong with the database (empty: sound). Reads it all."""
        from app.core.store.database import integrity_problems

        with self._read_lock:
            if self._closed:
                raise StoreClosed(f"The {self.what} is closed.", "Open it again.")
            return integrity_problems(self._read)

    def close(self) -> None:
        """Close both connections; queued writes finish first. Idempotent."""
        with self._read_lock:
            if self._closed:
                return
            self._closed = True
            self._read.close()
        # The writer's connection closes last, which checkpoints and removes the WAL.
        self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

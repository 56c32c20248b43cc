"""The encrypted conversation history (SQLCipher), its key management and search.

Open it with ``open_history(paths)``; see ``history.HistoryStore`` for what it offers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable

from app.core.paths import AppPaths
from app.core.store import database
from app.core.store.errors import (
    CipherUnsupported,
    ConversationNotFound,
    DatabaseDamaged,
    KeyMissing,
    MessageNotFound,
    NewerSchema,
    NotEncrypted,
    PassphraseRequired,
    StoreClosed,
    StoreError,
    WrongKey,
)
from app.core.store.history import HistoryStore
from app.core.store.keys import KeyMode
from app.core.store.records import MARK_END, MARK_START, Conversation, Message, SearchHit
from app.core.store.status import StoreStatus, file_status
from app.core.store.unlock import unlock

READ_CACHE_KIB = 64 * 1024

__all__ = [
    "MARK_END",
    "MARK_START",
    "CipherUnsupported",
    "Conversation",
    "ConversationNotFound",
    "DatabaseDamaged",
    "HistoryStore",
    "KeyMissing",
    "KeyMode",
    "Message",
    "MessageNotFound",
    "NewerSchema",
    "NotEncrypted",
    "PassphraseRequired",
    "SearchHit",
    "StoreClosed",
    "StoreError",
    "StoreStatus",
    "WrongKey",
    "open_history",
    "store_status",
]


def open_history(
    paths: AppPaths,
    *,
    passphrase: str | None = None,
    clock: Callable[[], float] = time.time,
) -> HistoryStore:
    """Open (or on first run create) the encrypted history.

    Args:
        paths: Where the database lives (``paths.database_file``).
        passphrase: For passphrase mode; given on first run, it chooses passphrase mode.
        clock: Source of timestamps (seconds since the epoch); tests move time with it.

    Raises:
        StoreError: a subclass saying exactly why the history cannot be opened; an existing
            database is never changed when opening fails.
        KeyringUnavailable: the key is in a keyring that cannot be used right now.
    """
    db_path = paths.database_file
    unlocked = unlock(db_path, passphrase)
    write_conn = database.connect(db_path, unlocked.key_hex, create=unlocked.created)
    try:
        database.migrate(write_conn, db_path)
        read_conn = database.connect(db_path, unlocked.key_hex, create=False)
        # SQLCipher decrypts a page on every cache miss; keep hot pages (the conversation
        # list, the search index) decrypted in this process's memory, never on disk.
        read_conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
    except BaseException:
        write_conn.close()
        raise
    return HistoryStore(db_path, write_conn, read_conn, mode=unlocked.mode, clock=clock)


def store_status(paths: AppPaths, *, passphrase: str | None = None) -> StoreStatus:
    """Report on the history; opens it (never creating it), checks every page, counts.

    A damaged page is reported in ``damage`` rather than raised, so the caller can still
    show what it knows.
    """
    status = file_status(paths.database_file)
    if not status.exists:
        return status
    with open_history(paths, passphrase=passphrase) as store:
        problems = store.integrity_problems()
        conversations: int | None = None
        messages: int | None = None
        with contextlib.suppress(DatabaseDamaged):  # the counts sit on a damaged page
            conversations, messages = store.counts()
        version = store.schema_version()
    return dataclasses.replace(
        status, schema_version=version, conversations=conversations, messages=messages,
        damage=problems[0] if problems else None,
    )

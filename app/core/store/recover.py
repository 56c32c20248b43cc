"""Salvaging a damaged history: every conversation and message that still reads back.

SQLCipher authenticates each page, so a flipped byte makes that page unreadable — and with
it every row below it when it is an interior page of a table's b-tree (one byte can hide all
messages). Recovery reads in two passes, table by table in id ranges (a range that fails is
split until the bad rows are isolated):

1. through SQLCipher, read-only: only rows on pages that pass their check;
2. for the ids still missing, from a copy decrypted in memory without the page checks, so a
   damaged interior page (most of it still decrypts: one AES block is garbled) still leads to
   the intact pages below it. Rows found only this way are counted as unverified.

Each answer's sources, each conversation's collections and system prompt come along with the
messages and conversations they belong to; saved prompts come too. What was read goes into a
fresh database with the same key.
The damaged file is kept beside it, byte for byte, so nothing is lost that a specialist could
still get back. The decrypted copy exists only in this process's memory, never on disk.

Only the history is salvaged. Documents can be added again from their files; conversations
cannot be typed again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlcipher3 import dbapi2

from app.core.errors import ExitCode
from app.core.store import database
from app.core.store.database import Connection
from app.core.store.errors import StoreError
from app.core.store.unlock import unlock

_SQLITE_HEADER = b"SQLite format 3\x00"
_RESERVE = 80  # SQLCipher 4's reserved tail of each page: a 16-byte IV and a 64-byte HMAC
_RANGE = 1024  # ids per read; a failed range is halved until single ids remain
_EMPTY_RANGES_AFTER_END = 64  # when the table's end cannot be read, scan this far past it

_CONVERSATION_COLUMNS = ("id", "title", "created", "updated", "pinned", "route")
_MESSAGE_COLUMNS = (
    "id", "conversation_id", "parent_id", "role", "text", "model_id", "model_sha256", "route",
    "created", "prompt_tokens", "completion_tokens", "ttft_ms", "tokens_per_s", "complete",
)
_REDACTION_COLUMNS = ("conversation_id", "placeholder", "original")
_SOURCE_COLUMNS = (
    "message_id", "n", "collection", "file", "page", "heading", "char_start", "char_end",
    "sha256", "text", "flagged",
)
_SCOPE_COLUMNS = ("conversation_id", "collection")
_SENSITIVE_COLUMNS = ("conversation_id", "marked", "reason")
_TOKEN_COLUMNS = ("id", "name", "token_sha256", "scopes", "route", "created", "expires",
                  "revoked", "last_used")
_PROMPT_COLUMNS = ("id", "name", "body", "kind", "created", "updated")
_SYSTEM_PROMPT_COLUMNS = ("conversation_id", "body", "updated")
_TABLES = (
    ("conversations", _CONVERSATION_COLUMNS),
    ("messages", _MESSAGE_COLUMNS),
    ("redactions", _REDACTION_COLUMNS),
    ("message_sources", _SOURCE_COLUMNS),
    ("conversation_collections", _SCOPE_COLUMNS),
    # A lost mark would let a sensitive conversation's context leave with the next question.
    ("sensitive_conversations", _SENSITIVE_COLUMNS),
    ("api_tokens", _TOKEN_COLUMNS),
    ("prompts", _PROMPT_COLUMNS),
    # A conversation recovered without its system prompt would be answered differently.
    ("conversation_system_prompts", _SYSTEM_PROMPT_COLUMNS),
)
_MAX_UNCHECKED_COPY = 4 * 1024**3  # the second pass holds the whole file in memory


class NothingToRecover(StoreError):
    """Recovery was asked for a database whose every page is sound."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover_history`` saved.

    Attributes:
        damaged_copy: Where the damaged database now is (kept as it was).
        conversations: Conversations in the new database.
        messages: Messages in the new database.
        unreadable_ids: Ids whose rows could not be read (some may never have existed).
        unverified: Rows read only from the unchecked in-memory copy (past a damaged page).
        before: ``(conversations, messages)`` the damaged file said it held, when it could.
    """

    damaged_copy: Path
    conversations: int
    messages: int
    unreadable_ids: int
    before: tuple[int, int] | None
    unverified: int = 0


def recover_history(
    db_path: Path, passphrase: str | None = None, *, clock: Callable[[], float] = time.time
) -> RecoveryReport:
    """Copy what still reads back from ``db_path`` into a new database in its place.

    Close Enclave first: the database is replaced underneath any open connection.

    Raises:
        NothingToRecover: the database is not damaged (recovery would drop the documents
            index for nothing).
        StoreError: the database cannot be unlocked at all (a damaged first page: only a
            backup can help then) — the file is not changed.
    """
    unlocked = unlock(db_path, passphrase)
    staging = db_path.with_name(db_path.name + ".recovering")
    _remove_database(staging)
    with _source(db_path, unlocked.key_hex) as src:
        if not database.integrity_problems(src):
            raise NothingToRecover(
                f"The history database {db_path} is not damaged: every page checks out.",
                "Nothing was changed. `enclave store status` shows what it holds.",
            )
        before = _counts(src)
        checked = _Salvage(src, dbapi2.DatabaseError)
        tables = {name: checked.rows(name, columns) for name, columns in _TABLES}
    unverified = 0
    with _unchecked_copy(db_path, unlocked.key_hex) as copy:
        if copy is not None:
            unchecked = _Salvage(copy, sqlite3.DatabaseError)
            for name, columns in _TABLES:
                extra = unchecked.rows(name, columns, skip=tables[name].keys())
                tables[name].update(extra)
                unverified += len(extra) if name == "messages" else 0
    rows = {name: list(found.values()) for name, found in tables.items()}
    conversations, messages = rows["conversations"], rows["messages"]
    written = 0
    target = database.connect(staging, unlocked.key_hex, create=True)
    try:
        database.migrate(target, staging)
        written = _write(target, rows, clock())
    finally:
        target.close()  # checkpoints the WAL into the file
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
    damaged_copy = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = db_path.with_name(db_path.name + suffix)
        if part.exists():
            os.replace(part, damaged_copy.with_name(damaged_copy.name + suffix))
    os.replace(staging, db_path)
    return RecoveryReport(
        damaged_copy=damaged_copy,
        conversations=len({row[0] for row in conversations} | {row[1] for row in messages}),
        messages=written,
        unreadable_ids=checked.unreadable,
        before=before,
        unverified=unverified,
    )


@contextlib.contextmanager
def _source(db_path: Path, key_hex: str) -> Iterator[Connection]:
    # Read-only: a damaged file is never written to. Without a WAL, immutable also keeps
    # SQLite from creating -shm beside it.
    has_wal = db_path.with_name(db_path.name + "-wal").exists()
    conn = database.open_readonly(db_path, key_hex, immutable=not has_wal)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def _unchecked_copy(db_path: Path, key_hex: str) -> Iterator[sqlite3.Connection | None]:
    """The database decrypted page by page into memory, skipping SQLCipher's page checks.

    SQLCipher 4 pages: AES-256-CBC over the page less its reserved tail, whose first 16
    bytes are the IV (the rest is the HMAC, not needed here). A raw key (``x'…'``) is the AES
    key itself. The first 16 bytes of the file are the salt, where the SQLite header was.
    Pages in a ``-wal`` file are not merged: the first pass (through SQLCipher) reads those.
    """
    size = db_path.stat().st_size
    if size > _MAX_UNCHECKED_COPY:
        yield None
        return
    raw = db_path.read_bytes()
    key = bytes.fromhex(key_hex)
    page_size, reserve = database.PAGE_SIZE, _RESERVE
    image = bytearray()
    for number in range(size // page_size):
        page = raw[number * page_size:(number + 1) * page_size]
        start = 16 if number == 0 else 0
        iv = page[page_size - reserve:page_size - reserve + 16]
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        plain = decryptor.update(page[start:page_size - reserve]) + decryptor.finalize()
        if number == 0:
            # The real header, in rollback-journal mode: an in-memory image cannot be WAL.
            plain = _SQLITE_HEADER + plain[:2] + b"\x01\x01" + plain[4:]
        image += plain + bytes(reserve)
    conn = sqlite3.connect(":memory:")
    # A garbled block may hold bytes that are not UTF-8: show them as U+FFFD.
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        try:
            conn.deserialize(bytes(image))
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            yield None  # the schema page itself is garbled: the first pass is all there is
            return
        yield conn
    finally:
        conn.close()


def _counts(src: Connection) -> tuple[int, int] | None:
    try:
        row = src.execute(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)"
        ).fetchone()
    except dbapi2.DatabaseError:
        return None
    return int(row[0]), int(row[1])


class _Salvage:
    """Reads rows by rowid range, isolating the ranges a damaged page makes unreadable."""

    def __init__(self, src: Any, error: type[Exception]) -> None:
        self._src = src
        self._error = error  # sqlcipher3's and the standard library's errors are distinct
        self.unreadable = 0

    def rows(
        self, table: str, columns: tuple[str, ...], skip: Collection[int] = ()
    ) -> dict[int, tuple[Any, ...]]:
        """``rowid -> row`` for every row that reads back, except the rowids in ``skip``.

        A table the damaged file never had (written before it existed) has no rows.
        """
        if not self._has_table(table):
            return {}
        sql = f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid >= ? AND rowid < ?"
        found: dict[int, tuple[Any, ...]] = {}
        end = self._last_rowid(table)
        start, empty_after_end = 1, 0
        while True:
            if end is not None and start > end:
                break
            got = self._range(sql, start, start + _RANGE)
            found.update((int(r[0]), r[1:]) for r in got if r[0] not in skip)
            start += _RANGE
            if end is None:
                # The b-tree's right edge is damaged: scan on until it has clearly ended.
                empty_after_end = 0 if got else empty_after_end + 1
                if empty_after_end >= _EMPTY_RANGES_AFTER_END:
                    break
        return found

    def _has_table(self, table: str) -> bool:
        try:
            row = self._src.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
        except self._error:
            return True  # the schema does not read back: look for the rows all the same
        return row is not None

    def _last_rowid(self, table: str) -> int | None:
        """The table's largest rowid, from the table or from any of its indexes.

        Each index is a separate b-tree that also holds the rowid, so it still answers when
        the table's right edge is on a damaged page.
        """
        try:
            indexes = [str(r[0]) for r in self._src.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))]
        except self._error:
            indexes = []
        for source in ["NOT INDEXED", *(f'INDEXED BY "{name}"' for name in indexes)]:
            try:
                row = self._src.execute(f"SELECT max(rowid) FROM {table} {source}").fetchone()
            except self._error:
                continue
            return int(row[0] or 0)
        return None

    def _range(self, sql: str, low: int, high: int) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._src.execute(sql, (low, high)).fetchall()]
        except self._error as exc:
            if not database.is_damage(exc):
                raise
        if high - low == 1:
            self.unreadable += 1
            return []
        middle = (low + high) // 2
        return self._range(sql, low, middle) + self._range(sql, middle, high)


# Long on purpose: one transaction, each table after the rows it refers to.
def _write(conn: Connection, rows: dict[str, list[tuple[Any, ...]]], now: float) -> int:
    """Insert the salvaged rows in one transaction; returns the messages written.

    A row read past a damaged page can break a constraint (a garbled role): that row alone
    is left out — a failed INSERT undoes only itself, not the transaction. Sources and
    collections come only with a message or conversation that was kept.
    """
    conversation_sql = _insert_sql("conversations", _CONVERSATION_COLUMNS)
    message_sql = _insert_sql("messages", _MESSAGE_COLUMNS)
    conn.execute("BEGIN IMMEDIATE")
    try:
        known = {row[0] for row in rows["conversations"] if _insert(conn, conversation_sql, row)}
        # Messages whose conversation row was on a damaged page keep a conversation to live in.
        for cid in sorted({row[1] for row in rows["messages"]} - known):
            if _insert(conn, conversation_sql,
                       (cid, f"Recovered conversation {cid}", now, now, 0, "local")):
                known.add(cid)
        kept: set[int] = set()
        for row in sorted(rows["messages"], key=lambda r: r[0]):
            parent = row[2] if row[2] in kept else None  # a lost parent leaves a root
            if row[1] in known and _insert(conn, message_sql, (*row[:2], parent, *row[3:])):
                kept.add(row[0])
        owned: tuple[tuple[str, tuple[str, ...], set[int] | None], ...] = (
            ("redactions", _REDACTION_COLUMNS, known),
            ("message_sources", _SOURCE_COLUMNS, kept),
            ("conversation_collections", _SCOPE_COLUMNS, known),
            ("sensitive_conversations", _SENSITIVE_COLUMNS, known),
            ("api_tokens", _TOKEN_COLUMNS, None),
            ("prompts", _PROMPT_COLUMNS, None),
            ("conversation_system_prompts", _SYSTEM_PROMPT_COLUMNS, known),
        )
        for table, columns, owners in owned:
            sql = _insert_sql(table, columns, "OR IGNORE")
            for row in rows[table]:
                if owners is None or row[0] in owners:
                    _insert(conn, sql, row)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(kept)


def _insert_sql(table: str, columns: tuple[str, ...], conflict: str = "") -> str:
    return (f"INSERT {conflict} INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})")


def _insert(conn: Connection, sql: str, row: tuple[Any, ...]) -> bool:
    try:
        conn.execute(sql, row)
    except dbapi2.DatabaseError:
        return False
    return True


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()

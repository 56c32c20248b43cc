"""Opening the SQLCipher database safely.

The rule this module keeps: a database file that exists is never created anew, overwritten or
written to unless it was first opened read-only with the key and found to be ours and not
newer than this code. A read-only probe cannot checkpoint a WAL or roll back a journal, so a
failed open leaves the file's bytes exactly as they were.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlcipher3 import dbapi2

from app.core.inputs import InvalidInput
from app.core.store.errors import (
    CipherUnsupported,
    DatabaseDamaged,
    NewerSchema,
    NotEncrypted,
)
from app.core.store.schema import MIGRATIONS, SCHEMA_VERSION

PAGE_SIZE = 4096
_PLAIN_SQLITE_HEADER = b"SQLite format 3\x00"

Connection = Any  # sqlcipher3 ships no type information


@functools.cache
def cipher_version() -> str:
    """Check the linked SQLCipher once: 4.x with FTS5.

    Returns:
        The SQLCipher version string.

    Raises:
        CipherUnsupported: if the library is not SQLCipher 4 or has no FTS5.
    """
    conn = dbapi2.connect(":memory:")
    try:
        row = conn.execute("PRAGMA cipher_version").fetchone()
        version = str(row[0]) if row and row[0] else ""
        options = {str(r[0]) for r in conn.execute("PRAGMA compile_options")}
    finally:
        conn.close()
    if not version.startswith("4."):
        raise CipherUnsupported(
            f"The SQLite library in use is not SQLCipher 4 (found {version or 'no SQLCipher'}).",
            "Reinstall Enclave; it needs sqlcipher3 built against SQLCipher 4.",
        )
    if "ENABLE_FTS5" not in options:
        raise CipherUnsupported(
            "The SQLCipher library in use has no full-text search (FTS5).",
            "Reinstall Enclave with the sqlcipher3 build it ships.",
        )
    return version


# SQLite's primary result codes for a page that fails to decrypt or parse (SQLCipher reports
# an HMAC mismatch as CORRUPT) and for a file that is not a database at all.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


def is_damage(exc: BaseException) -> bool:
    """Whether a database error means damaged bytes (not a busy lock or a full disk)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def damaged(path: Path, detail: str = "") -> DatabaseDamaged:
    """The error for a damaged page: what happened, that the file is kept, the way back."""
    found = f" ({detail})" if detail else ""
    return DatabaseDamaged(
        f"The history database {path} is damaged: part of it no longer decrypts or reads "
        f"back{found}. It may have been changed on disk, or the disk failed.",
        "The file was left exactly as it is. Run `enclave store recover` to copy everything "
        "still readable into a new database (the damaged file is kept beside it), or restore "
        f"{path.name} from a backup.",
    )


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn the database's low-level failures into errors a user can act on.

    Every read and write of the encrypted tables runs inside this, so damage found on any
    page — not only on the first, which opening checks — is named as damage, and a number
    too large for SQLite is an invalid input rather than an ``OverflowError``.
    """
    try:
        yield
    except dbapi2.DatabaseError as exc:
        if is_damage(exc):
            raise damaged(path) from exc
        raise
    except OverflowError as exc:
        raise InvalidInput(
            "A number given is larger than the history can hold (ids, limits and offsets "
            "are whole numbers up to 9,223,372,036,854,775,807).",
            "Check the id or count you gave.",
        ) from exc


def integrity_problems(conn: Connection, limit: int = 5) -> list[str]:
    """What SQLCipher's and SQLite's own checks find wrong; empty when every page is sound.

    ``cipher_integrity_check`` verifies the HMAC of every page (a flipped byte anywhere);
    ``quick_check`` then checks the b-trees that decrypted fine. Reads the whole file.
    """
    problems = [str(r[0]) for r in conn.execute("PRAGMA cipher_integrity_check").fetchall()]
    if problems:
        return problems[:limit]
    try:
        rows = conn.execute(f"PRAGMA quick_check({int(limit)})").fetchall()
    except dbapi2.DatabaseError as exc:
        return [str(exc)]
    return [str(r[0]) for r in rows if str(r[0]) != "ok"]


def has_data(path: Path) -> bool:
    """Whether a database exists at ``path`` (an empty file left by a crash does not count)."""
    wal = path.with_name(path.name + "-wal")
    try:
        return path.stat().st_size > 0 or wal.exists()
    except FileNotFoundError:
        return wal.exists()


def inspect_file(path: Path) -> None:
    """Reject files that cannot be an encrypted Enclave database, without opening them.

    Raises:
        NotEncrypted: if the file is a plain SQLite database.
        DatabaseDamaged: if the file is missing, shorter than a page or cut mid-page.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(len(_PLAIN_SQLITE_HEADER))
    except FileNotFoundError as exc:
        raise DatabaseDamaged(
            f"The history database {path} is missing but its journal is still there.",
            "Restore the database file from a backup; nothing was changed.",
        ) from exc
    if head == _PLAIN_SQLITE_HEADER:
        raise NotEncrypted(
            f"{path} is an unencrypted SQLite database, not Enclave's encrypted history.",
            "Move it elsewhere; Enclave will not read or write unencrypted history.",
        )
    if size < PAGE_SIZE or size % PAGE_SIZE:
        raise DatabaseDamaged(
            f"The history database {path} is truncated ({size} bytes, not whole pages).",
            "Restore it from a backup. The file was left exactly as it was.",
        )


def _connect(path: Path, key_hex: str, mode: str, *, immutable: bool = False) -> Connection:
    uri = f"file:{quote(str(path))}?mode={mode}" + ("&immutable=1" if immutable else "")
    conn = dbapi2.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        # SQLCipher logs decryption failures to stderr; the caller reports them itself.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key_hex}'\"")
    except BaseException:
        conn.close()
        raise
    return conn


def open_readonly(path: Path, key_hex: str, *, immutable: bool) -> Connection:
    """A read-only connection that can change no byte of the file (``immutable``: no -shm)."""
    return _connect(path, key_hex, "ro", immutable=immutable)


def _read_version(path: Path, key_hex: str, *, immutable: bool) -> int | None:
    conn = _connect(path, key_hex, "ro", immutable=immutable)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except dbapi2.DatabaseError:
        return None
    finally:
        conn.close()


def probe(path: Path, key_hex: str) -> int | None:
    """Open an existing database read-only with a key, changing no file.

    The first look is ``immutable``: no locks, no WAL, no -wal/-shm files created — page 1
    of the main file alone says whether the key is right. Only when a WAL exists (a crash
    left committed pages in it) is it opened read-only a second time, to read the schema
    version the WAL may hold; that open may refresh -shm, an index with no content.

    Returns:
        Its schema version, or ``None`` when the key does not decrypt it.
    """
    version = _read_version(path, key_hex, immutable=True)
    if version is None:
        return None
    if path.with_name(path.name + "-wal").exists():
        return _read_version(path, key_hex, immutable=False)
    return version


def check_version(path: Path, version: int) -> None:
    """Refuse a database written by a newer Enclave.

    Raises:
        NewerSchema: if ``version`` is newer than this code knows.
    """
    if version > SCHEMA_VERSION:
        raise NewerSchema(
            f"The history database {path} was written by a newer Enclave "
            f"(schema {version}; this version knows up to {SCHEMA_VERSION}).",
            "Update Enclave to open it. The database was not changed.",
        )


def connect(path: Path, key_hex: str, *, create: bool) -> Connection:
    """Open a read-write connection with the store's settings.

    The caller has already probed an existing file (``probe``) with this key.
    """
    conn = _connect(path, key_hex, "rwc" if create else "rw")
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        # Overwrite freed pages so deleted history leaves no decryptable remains in free pages.
        conn.execute("PRAGMA secure_delete = ON")
        # Temporary tables and sort spills stay in memory, never in an unencrypted temp file.
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a write acknowledged to a caller survives power loss, not only a crash.
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: Connection, path: Path) -> int:
    """Bring the schema up to date, one transaction per migration.

    ``executescript`` would commit half-way, so each migration is split into statements and
    run inside one explicit transaction together with its ``user_version`` bump.

    Returns:
        The schema version now in force.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    check_version(path, version)
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


def _split(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buf += line
        if dbapi2.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements

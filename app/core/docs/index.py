"""The documents index: collections, files, chunks, their vectors and full-text index.

It lives in the history's encrypted database file, in its own tables (``schema.py``), through
its own connections: one writer thread for every change (``app.core.store.writer.Writer``)
and one read connection behind a lock. sqlite-vec is loaded into both, then loading
extensions is switched off again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from app.core.docs.ann import AnnIndexes
from app.core.docs.errors import CollectionNotFound, DocumentsSchemaNewer
from app.core.docs.schema import (
    EMBEDDER_KEY,
    EMBEDDERS,
    EXACT_EMBEDDER,
    META_DDL,
    MIGRATIONS,
    SCHEMA_VERSION,
    VERSION_KEY,
    default_embedder,
)
from app.core.paths import AppPaths
from app.core.store import database
from app.core.store.database import Connection
from app.core.store.tables import EncryptedTables
from app.core.store.unlock import unlock

T = TypeVar("T")

READ_CACHE_KIB = 64 * 1024


@dataclass(frozen=True)
class Collection:
    """A named set of documents."""

    id: int
    name: str
    local_only: bool
    files: int
    chunks: int


@dataclass(frozen=True)
class FileRecord:
    """One file of a collection: indexed, or skipped with the reason."""

    id: int
    collection: str
    path: str
    sha256: str | None
    size: int | None
    mtime: float | None
    status: str
    error: str | None
    warning: str | None
    chunks: int


@dataclass(frozen=True)
class NewChunk:
    """A chunk ready to be written, with its vector."""

    ordinal: int
    text: str
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    hidden: bool
    vector: bytes


def _load_vec(conn: Connection) -> None:
    import sqlite_vec

    conn.enable_load_extension(True)
    try:
        conn.load_extension(sqlite_vec.loadable_path())
    finally:
        conn.enable_load_extension(False)


class DocumentIndex(EncryptedTables):
    """The documents tables in the encrypted database. Obtain one with ``open_index``."""

    what = "documents index"

    def __init__(self, path: Path, write_conn: Connection, read_conn: Connection) -> None:
        super().__init__(path, write_conn, read_conn)
        # The large collections' HNSW graphs, following every write below.
        self.ann = AnnIndexes(self._query, self._write)

    def close(self) -> None:
        """Close both connections (graphs being loaded stop); queued writes finish first."""
        self.ann.close()
        super().close()

    # -- plumbing ---------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read query on the read connection."""
        return self._query(sql, params)

    generation = 0  # bumped by every write in this process: in-memory caches check it

    def write(self, func: Callable[[Connection], T]) -> T:
        """Run ``func(conn)`` in one transaction on the writer thread; return once committed."""
        try:
            return self._write(func)
        except BaseException:
            # The graphs already followed the failed transaction's changes: reload them.
            self.ann.forget()
            raise
        finally:
            self.generation += 1

    def schema_version(self) -> int:
        """The documents tables' version."""
        rows = self.query("SELECT value FROM docs_meta WHERE key = ?", (VERSION_KEY,))
        return int(rows[0][0]) if rows else 0

    @property
    def embedder(self) -> str:
        """Which copy of the embedding model made this index's vectors (``schema.EMBEDDERS``).

        Questions must be embedded by the same one. A value this version does not know
        reads as ``exact``, the catalog model's own vectors.
        """
        rows = self.query("SELECT value FROM docs_meta WHERE key = ?", (EMBEDDER_KEY,))
        value = str(rows[0][0]) if rows else EXACT_EMBEDDER
        return value if value in EMBEDDERS else EXACT_EMBEDDER

    # -- collections ------------------------------------------------------------------------

    def ensure_collection(self, name: str, *, local_only: bool = False) -> int:
        """Create a collection if needed; ``local_only`` can be turned on, never silently off.

        Returns:
            The collection's id.
        """

        def op(conn: Connection) -> int:
            row = conn.execute("SELECT id FROM doc_collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                cur = conn.execute(
                    "INSERT INTO doc_collections (name, local_only, created) VALUES (?, ?, ?)",
                    (name, int(local_only), time.time()),
                )
                return int(cur.lastrowid)
            if local_only:
                conn.execute("UPDATE doc_collections SET local_only = 1 WHERE id = ?", (row[0],))
            return int(row[0])

        return self.write(op)

    def collections(self) -> list[Collection]:
        """Every collection with its file and chunk counts, by name."""
        rows = self.query(
            "SELECT c.id, c.name, c.local_only, "
            "(SELECT count(*) FROM doc_files f WHERE f.collection_id = c.id), "
            "(SELECT coalesce(sum(f.chunks), 0) FROM doc_files f WHERE f.collection_id = c.id) "
            "FROM doc_collections c ORDER BY c.name"
        )
        return [Collection(r[0], r[1], bool(r[2]), int(r[3]), int(r[4])) for r in rows]

    def collection(self, name: str) -> Collection:
        """One collection by name.

        Raises:
            CollectionNotFound: if there is none by that name.
        """
        for c in self.collections():
            if c.name == name:
                return c
        raise CollectionNotFound(
            f"There is no document collection named {name!r}.",
            "List collections with: enclave docs list",
        )

    def remove_collection(self, name: str) -> int:
        """Delete a collection with its files, chunks, vectors and index rows.

        Returns:
            The number of files removed.

        Raises:
            CollectionNotFound: if there is none by that name.
        """
        collection = self.collection(name)

        def op(conn: Connection) -> int:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM doc_files WHERE collection_id = ?", (collection.id,)
            )]
            for file_id in ids:
                _delete_file(conn, file_id)
            conn.execute("DELETE FROM doc_collections WHERE id = ?", (collection.id,))
            self.ann.forget(collection.id)
            return len(ids)

        return self.write(op)

    # -- files ------------------------------------------------------------------------------

    def files(self, collection: str | None = None) -> list[FileRecord]:
        """Files of one collection (or all), by collection and path."""
        sql = (
            "SELECT f.id, c.name, f.path, f.sha256, f.size, f.mtime, f.status, f.error, "
            "f.warning, f.chunks FROM doc_files f JOIN doc_collections c "
            "ON c.id = f.collection_id"
        )
        params: tuple[Any, ...] = ()
        if collection is not None:
            sql += " WHERE c.name = ?"
            params = (collection,)
        rows = self.query(sql + " ORDER BY c.name, f.path", params)
        return [FileRecord(*r) for r in rows]

    def file(self, collection_id: int, path: str) -> FileRecord | None:
        """The record for ``path`` in a collection, if any."""
        rows = self.query(
            "SELECT f.id, c.name, f.path, f.sha256, f.size, f.mtime, f.status, f.error, "
            "f.warning, f.chunks FROM doc_files f JOIN doc_collections c "
            "ON c.id = f.collection_id WHERE f.collection_id = ? AND f.path = ?",
            (collection_id, path),
        )
        return FileRecord(*rows[0]) if rows else None

    def store_file(
        self,
        collection_id: int,
        path: str,
        *,
        sha256: str | None,
        size: int | None,
        mtime: float | None,
        chunks: Sequence[NewChunk] = (),
        error: str | None = None,
        warning: str | None = None,
    ) -> int:
        """Replace a file's record and all its chunks, vectors and index rows in one commit.

        A file with ``error`` is recorded as skipped, with no chunks.

        Returns:
            The file's id.
        """
        status = "skipped" if error is not None else "indexed"

        def op(conn: Connection) -> int:
            row = conn.execute(
                "SELECT id FROM doc_files WHERE collection_id = ? AND path = ?",
                (collection_id, path),
            ).fetchone()
            if row is not None:
                self.ann.removed(collection_id, _delete_file(conn, int(row[0])))
            cur = conn.execute(
                "INSERT INTO doc_files (collection_id, path, sha256, size, mtime, status, error, "
                "warning, chunks, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection_id, path, sha256, size, mtime, status, error, warning,
                 len(chunks), time.time()),
            )
            file_id = int(cur.lastrowid)
            chunk_ids: list[int] = []
            for c in chunks:
                cur = conn.execute(
                    "INSERT INTO doc_chunks (file_id, ordinal, text, page, heading, char_start, "
                    "char_end, hidden, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (file_id, c.ordinal, c.text, c.page, c.heading, c.char_start, c.char_end,
                     int(c.hidden), c.vector),
                )
                chunk_ids.append(int(cur.lastrowid))
                conn.execute(
                    "INSERT INTO doc_vectors (rowid, embedding, coarse, collection_id) "
                    "VALUES (?, ?, vec_quantize_binary(?), ?)",
                    (chunk_ids[-1], c.vector, c.vector, collection_id),
                )
            if chunks:
                vectors = np.frombuffer(b"".join(c.vector for c in chunks), dtype=np.float32)
                self.ann.added(collection_id, chunk_ids, vectors.reshape(len(chunks), -1))
            return file_id

        return self.write(op)

    def remove_file(self, path: str, collection: str | None = None) -> int:
        """Remove a file (from one collection, or every one) with its chunks and vectors.

        Returns:
            How many file records were removed.
        """
        records = [f for f in self.files(collection) if f.path == path]
        ids = {c.name: c.id for c in self.collections()}

        def op(conn: Connection) -> int:
            for record in records:
                self.ann.removed(ids[record.collection], _delete_file(conn, record.id))
            return len(records)

        return self.write(op)

    def counts(self) -> dict[str, int]:
        """Rows in each documents table (what deletion tests and ``docs list`` look at)."""
        tables = ("doc_collections", "doc_files", "doc_chunks", "doc_vectors")
        out = {t: int(self.query(f"SELECT count(*) FROM {t}")[0][0]) for t in tables}
        # The FTS index's own rows, not the external content table it points at.
        out["doc_chunks_fts"] = int(self.query(
            "SELECT count(*) FROM doc_chunks_fts_docsize"
        )[0][0])
        return out


def _delete_file(conn: Connection, file_id: int) -> list[int]:
    """Delete a file and its chunks; returns the chunk ids that were deleted."""
    ids = [int(r[0]) for r in conn.execute(
        "SELECT id FROM doc_chunks WHERE file_id = ?", (file_id,)
    )]
    # The chunk triggers remove each chunk's FTS row and vector, and note it for a saved graph.
    conn.execute("DELETE FROM doc_chunks WHERE file_id = ?", (file_id,))
    conn.execute("DELETE FROM doc_files WHERE id = ?", (file_id,))
    return ids


def _migrate(conn: Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(META_DDL)
        row = conn.execute("SELECT value FROM docs_meta WHERE key = ?", (VERSION_KEY,)).fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise DocumentsSchemaNewer(
                f"The documents index in {path} was written by a newer Enclave "
                f"(version {version}; this one knows up to {SCHEMA_VERSION}).",
                "Update Enclave to use your documents. Nothing was changed.",
            )
        while version < SCHEMA_VERSION:
            for statement in database._split(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
        conn.execute(
            "INSERT INTO docs_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (VERSION_KEY, str(version)),
        )
        conn.execute("INSERT OR IGNORE INTO docs_meta (key, value) VALUES (?, ?)",
                     (EMBEDDER_KEY, default_embedder()))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def open_index_with_key(db_path: Path, key_hex: str, *, create: bool = False) -> DocumentIndex:
    """Open the documents tables with a key already known to open ``db_path``."""
    write_conn = database.connect(db_path, key_hex, create=create)
    read_conn = None
    try:
        _load_vec(write_conn)
        _migrate(write_conn, db_path)
        read_conn = database.connect(db_path, key_hex, create=False)
        _load_vec(read_conn)
        # Decrypted pages stay cached in this process: the coarse vectors and the hot part of
        # the full-text index are read on every question (SQLCipher decrypts on each miss).
        read_conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
    except BaseException:
        write_conn.close()
        if read_conn is not None:
            read_conn.close()
        raise
    return DocumentIndex(db_path, write_conn, read_conn)


def open_index(paths: AppPaths, *, passphrase: str | None = None) -> DocumentIndex:
    """Open (creating on first use) the documents index in the encrypted history database.

    Raises:
        StoreError: the database cannot be unlocked (see ``app.core.store.unlock``).
        DocumentsSchemaNewer: a newer Enclave wrote the documents tables.
    """
    unlocked = unlock(paths.database_file, passphrase)
    return open_index_with_key(paths.database_file, unlocked.key_hex, create=unlocked.created)

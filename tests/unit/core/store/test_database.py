from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.store import HistoryStore
from app.core.store.database import cipher_version
from app.core.store.schema import SCHEMA_VERSION


def test_cipher_is_sqlcipher_4() -> None:
    assert cipher_version().startswith("4.")


def test_connections_use_wal_secure_delete_and_foreign_keys(
    store: HistoryStore, raw_connect: Callable[[], Any]
) -> None:
    conn = raw_connect()
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert store.schema_version() == SCHEMA_VERSION

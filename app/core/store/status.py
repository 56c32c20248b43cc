"""What ``enclave store status`` reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.store import database
from app.core.store.keys import key_file_path, read_key_file


@dataclass(frozen=True)
class StoreStatus:
    """Facts about the history database; counts are ``None`` when it was not opened."""

    database_file: str
    key_file: str
    exists: bool
    mode: str | None
    size_bytes: int
    cipher_version: str
    schema_version: int | None = None
    conversations: int | None = None
    messages: int | None = None
    damage: str | None = None  # the first problem the page checks found; None: sound


def file_status(db_path: Path) -> StoreStatus:
    """What can be said without the key."""
    size = 0
    for suffix in ("", "-wal"):
        p = db_path.with_name(db_path.name + suffix)
        if p.exists():
            size += p.stat().st_size
    key_file = read_key_file(db_path)
    return StoreStatus(
        database_file=str(db_path),
        key_file=str(key_file_path(db_path)),
        exists=database.has_data(db_path),
        mode=key_file.current.mode.value if key_file else None,
        size_bytes=size,
        cipher_version=database.cipher_version(),
    )

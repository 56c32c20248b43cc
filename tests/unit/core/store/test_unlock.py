"""Opening fails in distinct, explained ways, and never changes the files it failed on."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from app.core.paths import AppPaths
from app.core.secrets import KeyringUnavailable
from app.core.store import (
    DatabaseDamaged,
    NewerSchema,
    NotEncrypted,
    PassphraseRequired,
    WrongKey,
    open_history,
)
from app.core.store.keys import key_file_path

Digest = Callable[[], dict[str, str]]


@pytest.fixture
def existing(paths: AppPaths, no_keyring: None, passphrase: str) -> AppPaths:
    with open_history(paths, passphrase=passphrase) as s:
        cid = s.create_conversation("kept")
        s.add_message(cid, "user", "do not lose me")
    return paths


def _still_readable(paths: AppPaths, passphrase: str) -> None:
    with open_history(paths, passphrase=passphrase) as s:
        assert [m.text for m in s.messages(1)] == ["do not lose me"]


def test_first_run_without_keyring_asks_for_a_passphrase(paths: AppPaths, no_keyring: None) -> None:
    with pytest.raises(PassphraseRequired):
        open_history(paths)
    assert not paths.database_file.exists()


def test_database_and_wal_are_private_to_the_user(
    paths: AppPaths, no_keyring: None, passphrase: str
) -> None:
    with open_history(paths, passphrase=passphrase) as s:
        s.create_conversation("x")
        for p in paths.data_dir.iterdir():
            assert p.stat().st_mode & 0o077 == 0, p.name


def test_wrong_passphrase(existing: AppPaths, digest: Digest, passphrase: str) -> None:
    before = digest()
    with pytest.raises(WrongKey, match="passphrase"):
        open_history(existing, passphrase="not it")
    with pytest.raises(PassphraseRequired):
        open_history(existing)
    assert digest() == before
    _still_readable(existing, passphrase)


def test_newer_schema_is_refused_untouched(
    existing: AppPaths, digest: Digest, raw_connect: Callable[[], Any], passphrase: str
) -> None:
    conn = raw_connect()
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = digest()
    with pytest.raises(NewerSchema, match="newer Enclave"):
        open_history(existing, passphrase=passphrase)
    assert digest() == before


@pytest.mark.parametrize("size", [100, 4096 + 1000, 3 * 4096 - 1])
def test_truncated_file_is_damaged(
    existing: AppPaths, digest: Digest, passphrase: str, size: int
) -> None:
    db = existing.database_file
    with db.open("r+b") as fh:
        fh.truncate(size)
    before = digest()
    with pytest.raises(DatabaseDamaged, match="truncated"):
        open_history(existing, passphrase=passphrase)
    assert digest() == before


def test_random_bytes_with_the_right_key_are_damaged(
    existing: AppPaths, digest: Digest, passphrase: str
) -> None:
    existing.database_file.write_bytes(os.urandom(8 * 4096))
    before = digest()
    with pytest.raises(DatabaseDamaged, match="damaged or was replaced"):
        open_history(existing, passphrase=passphrase)
    assert digest() == before


def test_random_bytes_without_key_file_are_never_overwritten(
    paths: AppPaths, no_keyring: None, digest: Digest, passphrase: str
) -> None:
    paths.database_file.write_bytes(os.urandom(4 * 4096))
    before = digest()
    with pytest.raises(KeyringUnavailable):
        open_history(paths, passphrase=passphrase)
    assert digest() == before
    assert not key_file_path(paths.database_file).exists()


def test_plain_sqlite_is_refused(
    paths: AppPaths, no_keyring: None, digest: Digest, passphrase: str
) -> None:
    conn = sqlite3.connect(paths.database_file)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES ('plaintext')")
    conn.commit()
    conn.close()
    before = digest()
    with pytest.raises(NotEncrypted, match="unencrypted"):
        open_history(paths, passphrase=passphrase)
    assert digest() == before


def test_damaged_key_file_is_reported_and_left_alone(
    existing: AppPaths, digest: Digest, passphrase: str
) -> None:
    key_file_path(existing.database_file).write_text("{not json", encoding="utf-8")
    before = digest()
    with pytest.raises(Exception, match="key file"):
        open_history(existing, passphrase=passphrase)
    assert digest() == before


def test_empty_file_left_by_a_crash_is_initialised(
    paths: AppPaths, no_keyring: None, passphrase: str
) -> None:
    paths.database_file.touch()
    with open_history(paths, passphrase=passphrase) as s:
        assert s.list_conversations() == []


def test_wrong_passphrase_on_a_crash_left_wal_changes_nothing(
    paths: AppPaths, no_keyring: None, digest: Digest, passphrase: str
) -> None:
    import shutil

    crashed = paths.data_dir.parent / "crashed"
    crashed.mkdir()
    with open_history(paths, passphrase=passphrase) as s:
        cid = s.create_conversation("in the wal")
        s.add_message(cid, "user", "only in the WAL so far")
        # A copy taken while open is what a crash leaves: the commits live in -wal.
        for p in paths.data_dir.iterdir():
            if p.is_file() and not p.name.endswith("-shm"):
                shutil.copy2(p, crashed / p.name)
    for p in paths.data_dir.iterdir():
        if p.is_file():
            p.unlink()
    for p in crashed.iterdir():
        shutil.copy2(p, paths.data_dir / p.name)
    assert (paths.data_dir / "history.db-wal").stat().st_size > 0
    before = digest()
    with pytest.raises(WrongKey):
        open_history(paths, passphrase="not it")
    assert digest() == before
    with open_history(paths, passphrase=passphrase) as s:
        assert [m.text for m in s.messages(cid)] == ["only in the WAL so far"]


def test_key_file_without_database_is_kept_aside_not_destroyed(
    existing: AppPaths, passphrase: str
) -> None:
    moved = existing.data_dir.parent / "moved.db"
    existing.database_file.rename(moved)
    old_key_file = key_file_path(existing.database_file).read_text(encoding="utf-8")
    with open_history(existing, passphrase="a different one") as s:
        assert s.list_conversations() == []
    kept = list(existing.data_dir.glob("history.db.key.json.orphaned-*"))
    assert [p.read_text(encoding="utf-8") for p in kept] == [old_key_file]

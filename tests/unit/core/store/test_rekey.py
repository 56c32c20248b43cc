"""Rekey in passphrase mode (no keyring needed); keyring moves are in test_keyring.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.core.paths import AppPaths
from app.core.store import PassphraseRequired, WrongKey, open_history
from app.core.store.keys import (
    KeyFile,
    KeyMode,
    KeySpec,
    derive_key,
    key_check,
    new_kdf,
    read_key_file,
    write_key_file,
)
from app.core.store.rekey import rekey

Digest = Callable[[], dict[str, str]]


@pytest.fixture
def existing(paths: AppPaths, no_keyring: None, passphrase: str) -> AppPaths:
    with open_history(paths, passphrase=passphrase) as s:
        cid = s.create_conversation("kept")
        s.add_message(cid, "user", "survives rekey")
    return paths


def _texts(paths: AppPaths, passphrase: str) -> list[str]:
    with open_history(paths, passphrase=passphrase) as s:
        return [m.text for m in s.messages(1)]


def test_change_passphrase(existing: AppPaths, passphrase: str) -> None:
    mode = rekey(existing.database_file, passphrase=passphrase, new_passphrase="new one")
    assert mode is KeyMode.PASSPHRASE
    with pytest.raises(WrongKey):
        open_history(existing, passphrase=passphrase)
    assert _texts(existing, "new one") == ["survives rekey"]
    key_file = read_key_file(existing.database_file)
    assert key_file is not None
    assert key_file.pending is None


def test_rekey_needs_the_new_passphrase_and_changes_nothing_without_it(
    existing: AppPaths, passphrase: str, digest: Digest
) -> None:
    before = digest()
    with pytest.raises(PassphraseRequired):
        rekey(existing.database_file, passphrase=passphrase, new_passphrase=None)
    with pytest.raises(WrongKey):
        rekey(existing.database_file, passphrase="wrong", new_passphrase="x")
    assert digest() == before


def _start_rekey(paths: AppPaths, passphrase: str, new_passphrase: str) -> str:
    """Steps 1-2 of a rekey: the key file names the old key and the pending new one."""
    key_file = read_key_file(paths.database_file)
    assert key_file is not None
    kdf = new_kdf()
    new_hex = derive_key(new_passphrase, kdf)
    pending = KeySpec(KeyMode.PASSPHRASE, key_check(new_hex), kdf)
    write_key_file(paths.database_file, KeyFile(current=key_file.current, pending=pending))
    return new_hex


def test_rekey_killed_before_the_database_changed_opens_with_old_key(
    existing: AppPaths, passphrase: str
) -> None:
    _start_rekey(existing, passphrase, "new one")
    assert _texts(existing, passphrase) == ["survives rekey"]


def test_rekey_killed_after_the_database_changed_opens_with_new_key_and_finishes(
    existing: AppPaths, passphrase: str, raw_connect: Callable[[], Any]
) -> None:
    conn = raw_connect()
    new_hex = _start_rekey(existing, passphrase, "new one")
    conn.execute(f"PRAGMA rekey = \"x'{new_hex}'\"")  # step 3 done, then "killed"
    conn.close()
    assert _texts(existing, "new one") == ["survives rekey"]
    key_file = read_key_file(existing.database_file)
    assert key_file is not None
    assert key_file.pending is None
    assert key_file.current.key_check == key_check(new_hex)

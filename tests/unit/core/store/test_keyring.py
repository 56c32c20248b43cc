"""The real OS keyring (Secret Service under ``make test``).

Entries the tests touch are saved first and restored after, so running these on a desktop
does not lose a real Enclave key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core import secrets
from app.core.paths import AppPaths
from app.core.store import KeyMissing, KeyMode, WrongKey, open_history, store_status
from app.core.store.keys import KEYRING_NAME, KEYRING_NEXT_NAME
from app.core.store.rekey import rekey

pytestmark = pytest.mark.keyring

Digest = Callable[[], dict[str, str]]


@pytest.fixture
def keyring() -> Iterator[None]:
    secrets.reset_backend_cache()
    try:
        secrets.trusted_backend()
    except secrets.KeyringUnavailable as exc:
        if os.environ.get("CI"):  # CI must never turn the real-keyring tests into skips
            pytest.fail(f"no live keyring in CI: {exc.message}")
        pytest.skip(f"no live keyring: {exc.message}")
    saved = {name: secrets.get_secret(name) for name in (KEYRING_NAME, KEYRING_NEXT_NAME)}
    for name in saved:
        secrets.delete_secret(name)
    yield
    for name, value in saved.items():
        if value is None:
            secrets.delete_secret(name)
        else:
            secrets.set_secret(name, value)
    secrets.reset_backend_cache()


@pytest.fixture
def existing(paths: AppPaths, keyring: None) -> AppPaths:
    with open_history(paths) as s:
        cid = s.create_conversation("kept")
        s.add_message(cid, "user", "in the keyring's care")
    return paths


def _texts(paths: AppPaths, passphrase: str | None = None) -> list[str]:
    with open_history(paths, passphrase=passphrase) as s:
        return [m.text for m in s.messages(1)]


def test_first_run_stores_a_random_256_bit_key(existing: AppPaths) -> None:
    key = secrets.get_secret(KEYRING_NAME)
    assert key is not None
    assert len(bytes.fromhex(key)) == 32
    assert _texts(existing) == ["in the keyring's care"]
    status = store_status(existing)
    assert (status.mode, status.conversations, status.messages) == ("keyring", 1, 1)
    assert key not in existing.database_file.with_name("history.db.key.json").read_text()


def test_missing_keyring_entry_is_key_missing_and_changes_nothing(
    existing: AppPaths, digest: Digest
) -> None:
    secrets.delete_secret(KEYRING_NAME)
    before = digest()
    with pytest.raises(KeyMissing, match="not in the OS keyring"):
        open_history(existing)
    assert digest() == before
    assert existing.database_file.exists()


def test_other_key_in_keyring_is_wrong_key(existing: AppPaths, digest: Digest) -> None:
    secrets.set_secret(KEYRING_NAME, "ab" * 32)
    before = digest()
    with pytest.raises(WrongKey, match="keyring"):
        open_history(existing)
    assert digest() == before


def test_rekey_keyring_to_new_key_then_passphrase_then_back(existing: AppPaths) -> None:
    old = secrets.get_secret(KEYRING_NAME)
    assert rekey(existing.database_file) is KeyMode.KEYRING
    new = secrets.get_secret(KEYRING_NAME)
    assert new not in (None, old)
    assert secrets.get_secret(KEYRING_NEXT_NAME) is None
    assert _texts(existing) == ["in the keyring's care"]

    assert rekey(existing.database_file, to=KeyMode.PASSPHRASE, new_passphrase="pw") is (
        KeyMode.PASSPHRASE
    )
    assert secrets.get_secret(KEYRING_NAME) is None
    assert store_status(existing, passphrase="pw").mode == "passphrase"
    assert _texts(existing, "pw") == ["in the keyring's care"]

    assert rekey(existing.database_file, to=KeyMode.KEYRING, passphrase="pw") is KeyMode.KEYRING
    assert _texts(existing) == ["in the keyring's care"]


def test_rekey_killed_after_database_changed_finishes_on_next_open(existing: AppPaths) -> None:
    """State after rekey step 3: db under the .next key, history-db-key still the old key."""
    from app.core.store.database import connect
    from app.core.store.keys import KeyFile, KeySpec, key_check, read_key_file, write_key_file

    old = secrets.get_secret(KEYRING_NAME)
    assert old is not None
    new = "cd" * 32
    secrets.set_secret(KEYRING_NEXT_NAME, new)
    current = read_key_file(existing.database_file)
    assert current is not None
    write_key_file(
        existing.database_file,
        KeyFile(current=current.current, pending=KeySpec(KeyMode.KEYRING, key_check(new))),
    )
    conn = connect(existing.database_file, old, create=False)
    conn.execute(f"PRAGMA rekey = \"x'{new}'\"")
    conn.close()

    assert _texts(existing) == ["in the keyring's care"]
    assert secrets.get_secret(KEYRING_NAME) == new
    assert secrets.get_secret(KEYRING_NEXT_NAME) is None


def test_cli_store_status_json_reports_keyring_mode(existing: AppPaths, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app", "store", "status", "--json"],
        env={**os.environ, "ENCLAVE_HOME": str(existing.data_dir.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status = json.loads(out.stdout)
    assert status["mode"] == "keyring"
    assert status["messages"] == 1

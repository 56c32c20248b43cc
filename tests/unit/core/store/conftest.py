"""Fixtures for the history store: a private ENCLAVE_HOME and, unless a test needs the real
keyring, no keyring at all (so the passphrase path is what runs)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import secrets
from app.core.paths import AppPaths, default_paths
from app.core.store import HistoryStore, open_history
from app.core.store.database import connect
from app.core.store.keys import derive_key, read_key_file

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    return default_paths().ensure()


@pytest.fixture
def passphrase() -> str:
    return PASSPHRASE


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A session bus that does not exist: every keyring backend is unusable."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/enclave-test-bus")
    secrets.reset_backend_cache()
    yield
    secrets.reset_backend_cache()


@pytest.fixture
def store(paths: AppPaths, no_keyring: None) -> Iterator[HistoryStore]:
    s = open_history(paths, passphrase=PASSPHRASE)
    yield s
    s.close()


def _digest_files(paths: AppPaths) -> dict[str, str]:
    # -shm is a rebuildable index with no content; a read-only open may refresh it.
    out = {}
    for p in sorted(paths.database_file.parent.iterdir()):
        if p.is_file() and not p.name.endswith("-shm"):
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def digest(paths: AppPaths) -> Callable[[], dict[str, str]]:
    """sha256 of every file beside the database (db, -wal, key file), by name."""
    return lambda: _digest_files(paths)


@pytest.fixture
def raw_connect(paths: AppPaths, passphrase: str) -> Callable[[], Any]:
    """A direct SQLCipher connection to the (passphrase-mode) database, for inspection."""

    def make() -> Any:
        key_file = read_key_file(paths.database_file)
        assert key_file is not None
        assert key_file.current.kdf is not None
        key = derive_key(passphrase, key_file.current.kdf)
        return connect(paths.database_file, key, create=False)

    return make

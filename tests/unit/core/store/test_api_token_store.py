"""API tokens in the encrypted history: only hashes, names reusable once a token is dead."""

from __future__ import annotations

import sqlite3
import time

import pytest

from app.core.api.tokens import new_secret, token_hash
from app.core.store import HistoryStore, open_history
from app.core.store.api_tokens import ApiTokenExists, ApiTokenNotFound
from app.core.store.schema import SCHEMA_VERSION
from tests.unit.core.store.conftest import PASSPHRASE


def test_only_the_hash_is_stored_and_the_file_is_encrypted(store: HistoryStore, paths) -> None:
    secret = new_secret()
    store.add_api_token("ci", token_hash(secret), scopes=("chat",), route="local",
                        created=time.time(), expires=None)
    assert store.api_token_by_hash(token_hash(secret)).name == "ci"
    assert store.api_token_by_hash(token_hash(new_secret())) is None
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    raw = b"".join(p.read_bytes() for p in paths.database_file.parent.glob("history.db*"))
    assert secret.encode() not in raw
    assert token_hash(secret).encode() not in raw  # even the hash is inside the encryption
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(paths.database_file).execute("SELECT * FROM api_tokens").fetchall()


def test_a_name_is_taken_until_its_token_is_revoked_or_expired(store: HistoryStore) -> None:
    now = time.time()
    store.add_api_token("ci", "a" * 64, scopes=("chat",), route="local", created=now,
                        expires=now + 60)
    with pytest.raises(ApiTokenExists):
        store.add_api_token("ci", "b" * 64, scopes=("chat",), route="local", created=now,
                            expires=None)
    revoked = store.revoke_api_token("ci", now + 1)
    assert revoked.state(now + 2) == "revoked"
    assert store.revoke_api_token("ci", now + 5).revoked == revoked.revoked  # once
    store.add_api_token("ci", "b" * 64, scopes=("chat", "history"), route="local",
                        created=now + 3, expires=None)
    [record] = store.api_tokens()
    assert (record.scopes, record.state(now + 10**9)) == (("chat", "history"), "active")
    assert store.api_token_by_hash("a" * 64) is None

    store.add_api_token("old", "c" * 64, scopes=("chat",), route="local", created=now - 100,
                        expires=now - 1)
    store.add_api_token("old", "d" * 64, scopes=("chat",), route="local", created=now,
                        expires=None)  # the expired one made room
    with pytest.raises(ApiTokenNotFound):
        store.revoke_api_token("nobody", now)


def test_tokens_survive_reopening(paths, no_keyring) -> None:
    with open_history(paths, passphrase=PASSPHRASE) as store:
        store.add_api_token("ci", "e" * 64, scopes=("embeddings",), route="local",
                            created=1.0, expires=None)
        store.touch_api_token("ci", 5.0)
    with open_history(paths, passphrase=PASSPHRASE) as store:
        [record] = store.api_tokens()
    assert (record.name, record.scopes, record.last_used) == ("ci", ("embeddings",), 5.0)

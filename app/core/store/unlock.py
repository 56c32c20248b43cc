"""Finding the key that opens the history database, or creating one on first run.

Order of reasoning for an existing database:

1. ``inspect_file`` rejects plain SQLite, truncated and cut-off files without opening them.
2. Each key the key file describes (the current one, then the one a rekey was installing) is
   obtained — from the keyring or by deriving it from the passphrase — and compared with its
   check value; only a key whose check matches is tried against the file, read-only.
3. If a key passes its check but cannot decrypt the file, the file is damaged (or was
   replaced); if no key passes its check, the key is wrong; if no key can be obtained, it is
   missing. Each case is its own error.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from app.core import secrets
from app.core.errors import EnclaveError
from app.core.store import database
from app.core.store.errors import (
    DatabaseDamaged,
    KeyMissing,
    PassphraseRequired,
    StoreError,
    WrongKey,
)
from app.core.store.key_commit import commit_key
from app.core.store.keys import (
    KEYRING_NAME,
    KEYRING_NEXT_NAME,
    KeyFile,
    KeyMode,
    KeySpec,
    check_matches,
    derive_key,
    key_check,
    key_file_path,
    new_kdf,
    new_key,
    read_key_file,
    write_key_file,
)


@dataclass(frozen=True)
class Unlocked:
    """A key that opens the database, and how it is kept."""

    key_hex: str
    mode: KeyMode
    created: bool


def unlock(db_path: Path, passphrase: str | None) -> Unlocked:
    """Return the key for the database at ``db_path``, creating one on first run.

    Args:
        db_path: The database file.
        passphrase: The user's passphrase, for passphrase mode (or to choose it on first run).

    Raises:
        KeyringUnavailable: the key is in the keyring and the keyring cannot be used.
        KeyMissing: the database exists but the keyring holds no key for it.
        PassphraseRequired: a passphrase is needed and none was given.
        WrongKey: the key or passphrase does not match this database.
        DatabaseDamaged: the right key cannot decrypt the file, or the file is cut short.
        NotEncrypted: a plain SQLite file is in the way.
        NewerSchema: a newer Enclave wrote the database.
    """
    database.cipher_version()
    if not database.has_data(db_path):
        return _first_run(db_path, passphrase)
    database.inspect_file(db_path)
    key_file = read_key_file(db_path)
    if key_file is None:
        # A database with no key file: only the keyring can hold its key.
        specs: list[tuple[KeySpec | None, str]] = [(None, KEYRING_NAME)]
    else:
        specs = [(key_file.current, KEYRING_NAME)]
        if key_file.pending is not None:
            specs.append((key_file.pending, KEYRING_NEXT_NAME))
    failures: list[EnclaveError] = []
    damaged = False
    wrong = False
    for spec, keyring_name in specs:
        try:
            key_hex = _obtain(spec, keyring_name, passphrase)
        except (StoreError, secrets.KeyringUnavailable) as exc:
            # The other key may still work (a rekey between keyring and passphrase).
            failures.append(exc)
            continue
        if key_hex is None:
            continue
        if spec is not None and not check_matches(spec, key_hex):
            wrong = True
            continue
        version = database.probe(db_path, key_hex)
        if version is None:
            # A key that passed its check is the right key: the file is what is wrong.
            damaged = damaged or spec is not None
            wrong = wrong or spec is None
            continue
        database.check_version(db_path, version)
        mode = spec.mode if spec is not None else KeyMode.KEYRING
        if key_file is not None and spec is key_file.pending:
            _finish_interrupted_rekey(db_path, key_file, key_hex)
        return Unlocked(key_hex, mode, created=False)
    return _raise_failure(db_path, key_file, failures, damaged=damaged, wrong=wrong)


def _obtain(spec: KeySpec | None, keyring_name: str, passphrase: str | None) -> str | None:
    if spec is not None and spec.mode is KeyMode.PASSPHRASE:
        assert spec.kdf is not None  # noqa: S101 - KeySpec.from_json guarantees it
        if passphrase is None:
            raise PassphraseRequired(
                "The history is protected by a passphrase.",
                "Enter the passphrase you chose for Enclave's history.",
            )
        return derive_key(passphrase, spec.kdf)
    return secrets.get_secret(keyring_name)


def _raise_failure(
    db_path: Path,
    key_file: KeyFile | None,
    failures: list[EnclaveError],
    *,
    damaged: bool,
    wrong: bool,
) -> Unlocked:
    for failure in failures:
        # An interrupted rekey may need the passphrase for its other key: ask before judging.
        if isinstance(failure, PassphraseRequired):
            raise failure
    if damaged:
        raise DatabaseDamaged(
            f"The history database {db_path} cannot be decrypted with its own key: "
            "it is damaged or was replaced by another file.",
            "Try: enclave store recover (it copies what can still be read and keeps this "
            "file exactly as it is), or restore it from a backup.",
        )
    if wrong:
        passphrase_mode = key_file is not None and key_file.current.mode is KeyMode.PASSPHRASE
        if passphrase_mode:
            raise WrongKey(
                "The passphrase does not unlock the history.",
                "Check the passphrase and try again.",
            )
        raise WrongKey(
            f"The key in the OS keyring does not decrypt {db_path}.",
            "Restore the matching 'history-db-key' keyring entry, or move the database away "
            "to start a new history.",
        )
    if failures:
        raise failures[0]
    raise KeyMissing(
        f"The key for {db_path} is not in the OS keyring.",
        "Restore the 'history-db-key' keyring entry (service 'Enclave'); without it the "
        "history cannot be read. The database was not touched.",
    )


def _first_run(db_path: Path, passphrase: str | None) -> Unlocked:
    """No database yet: choose a key, record it, and only then let the database be created."""
    previous = read_key_file(db_path)
    if passphrase is not None:
        old = previous.current if previous else None
        # Keep an earlier salt: with the same passphrase, a database moved away and back
        # still opens.
        kdf = old.kdf if old is not None and old.kdf is not None else new_kdf()
        key_hex = derive_key(passphrase, kdf)
        spec = KeySpec(KeyMode.PASSPHRASE, key_check(key_hex), kdf)
    else:
        try:
            key_hex = secrets.get_secret(KEYRING_NAME) or ""
            if not key_hex:
                key_hex = new_key()
                secrets.set_secret(KEYRING_NAME, key_hex)
        except secrets.KeyringUnavailable as exc:
            raise PassphraseRequired(
                "No OS keyring is available to hold the history key.",
                "Choose a passphrase to encrypt your history; it will be asked for at start.",
            ) from exc
        spec = KeySpec(KeyMode.KEYRING, key_check(key_hex))
    db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if previous is not None and previous.current != spec:
        # A key file without its database: the database may only have been moved away, and
        # a passphrase key cannot be derived without this salt. Keep it, renamed.
        path = key_file_path(db_path)
        path.rename(path.with_name(f"{path.name}.orphaned-{int(time.time())}"))
    write_key_file(db_path, KeyFile(current=spec))
    # Create the file private to the user; SQLite gives its -wal and -shm the same mode.
    os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT, 0o600))
    return Unlocked(key_hex, spec.mode, created=True)


def _finish_interrupted_rekey(db_path: Path, key_file: KeyFile, key_hex: str) -> None:
    """A rekey died after the database switched keys: finish its bookkeeping."""
    assert key_file.pending is not None  # noqa: S101 - caller checked
    commit_key(db_path, key_file.pending, key_hex, previous=key_file.current)

"""Changing the database key: a new random key, or moving between keyring and passphrase.

The sequence, chosen so that a rekey killed at any instant leaves a database that the old or
the new key opens, and a key file and keyring from which ``unlock`` finds that key:

1. Obtain the new key and make it durable *before* the database uses it: a keyring key is
   stored under ``history-db-key.next``; a passphrase key needs nothing stored (the user has
   the passphrase; its salt goes into the key file in step 2).
2. Write the key file with ``current`` = the old key (unchanged, still in ``history-db-key``
   or derived from the old passphrase) and ``pending`` = the new key.
3. ``PRAGMA rekey``: SQLite re-encrypts every page in one transaction, so after a crash the
   file is entirely old-key or entirely new-key, never a mix.
4. Close, and reopen the file in a fresh read-only connection with the new key. If that
   fails, the old key is untouched and still opens the database; the pending entry is
   dropped and the error raised.
5. Commit (``key_commit.commit_key``): only now is the old key replaced — the new keyring
   key is copied to ``history-db-key`` (or the keyring entry removed for passphrase mode), the
   key file is rewritten with the new key as ``current`` and no ``pending``, and ``.next`` is
   deleted.

Between steps 3 and 5 the old key is still in ``history-db-key`` (the backup, in effect) and
the new one in ``.next`` / the key file; ``unlock`` tries both and, if the pending key is the
one that opens the file, runs step 5 itself.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from app.core import secrets
from app.core.store import database
from app.core.store.errors import PassphraseRequired, StoreError
from app.core.store.key_commit import commit_key
from app.core.store.keys import (
    KEYRING_NEXT_NAME,
    KeyFile,
    KeyMode,
    KeySpec,
    derive_key,
    key_check,
    new_kdf,
    new_key,
    read_key_file,
    write_key_file,
)
from app.core.store.unlock import unlock


# Long on purpose: the five crash-safe steps of the module docstring, in order, in one place.
def rekey(
    db_path: Path,
    *,
    to: KeyMode | None = None,
    passphrase: str | None = None,
    new_passphrase: str | None = None,
) -> KeyMode:
    """Re-encrypt the database under a new key. The history must not be open elsewhere.

    Args:
        db_path: The database file.
        to: The mode to move to; ``None`` keeps the current mode with a new key.
        passphrase: The current passphrase (passphrase mode only).
        new_passphrase: The new passphrase (when moving to, or staying in, passphrase mode).

    Returns:
        The mode now in use.

    Raises:
        PassphraseRequired: a passphrase needed for the old or new key was not given.
        StoreError: the database did not open with the new key (the old key still works).
    """
    if not database.has_data(db_path):
        raise StoreError(
            f"There is no history database at {db_path} to rekey.",
            "Start Enclave once to create it.",
        )
    old = unlock(db_path, passphrase)
    key_file = read_key_file(db_path)
    current = key_file.current if key_file else KeySpec(old.mode, key_check(old.key_hex))
    target = to or old.mode

    # Step 1: the new key, durable before the database uses it.
    if target is KeyMode.PASSPHRASE:
        if not new_passphrase:
            raise PassphraseRequired(
                "A new passphrase is needed to protect the history.",
                "Choose a passphrase; it will be asked for each time Enclave starts.",
            )
        kdf = new_kdf()
        new_hex = derive_key(new_passphrase, kdf)
        pending = KeySpec(KeyMode.PASSPHRASE, key_check(new_hex), kdf)
    else:
        new_hex = new_key()
        secrets.set_secret(KEYRING_NEXT_NAME, new_hex)
        pending = KeySpec(KeyMode.KEYRING, key_check(new_hex))

    # Step 2: record both keys.
    write_key_file(db_path, KeyFile(current=current, pending=pending))
    try:
        # Step 3: re-encrypt in one transaction.
        conn = database.connect(db_path, old.key_hex, create=False)
        try:
            conn.execute(f"PRAGMA rekey = \"x'{new_hex}'\"")
        finally:
            conn.close()
        # Step 4: a fresh connection must open it with the new key.
        if database.probe(db_path, new_hex) is None:
            raise StoreError(
                "The history did not open with its new key; the old key was kept.",
                "Nothing was lost. Try the rekey again, and report this if it repeats.",
            )
    except BaseException:
        if database.probe(db_path, old.key_hex) is not None:
            write_key_file(db_path, KeyFile(current=current))
            if target is KeyMode.KEYRING:
                with contextlib.suppress(secrets.KeyringUnavailable):
                    secrets.delete_secret(KEYRING_NEXT_NAME)
        raise
    # Step 5.
    commit_key(db_path, pending, new_hex, previous=current)
    return target


"""Making a key that already opens the database the current one (the last step of a rekey).

Both ``rekey`` (step 5 of its sequence) and ``unlock`` (finishing a rekey that died after the
database switched keys) end here, so it sits below both of them, beside the key file code.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from app.core import secrets
from app.core.store.keys import (
    KEYRING_NAME,
    KEYRING_NEXT_NAME,
    KeyFile,
    KeyMode,
    KeySpec,
    check_matches,
    write_key_file,
)


def commit_key(db_path: Path, spec: KeySpec, key_hex: str, *, previous: KeySpec) -> None:
    """Make a key that already opens the database the current one (rekey step 5).

    Args:
        db_path: The database file.
        spec: The new key's description.
        key_hex: The new key.
        previous: The key it replaces (its keyring entry is removed when leaving the keyring).
    """
    if spec.mode is KeyMode.KEYRING:
        secrets.set_secret(KEYRING_NAME, key_hex)
    write_key_file(db_path, KeyFile(current=spec))
    # Leftover keyring entries no longer open anything; remove them where a keyring exists.
    with contextlib.suppress(secrets.KeyringUnavailable):
        secrets.delete_secret(KEYRING_NEXT_NAME)
        if spec.mode is KeyMode.PASSPHRASE and previous.mode is KeyMode.KEYRING:
            # Only this database's old key: the entry name is shared by every ENCLAVE_HOME.
            old = secrets.get_secret(KEYRING_NAME)
            if old is not None and check_matches(previous, old):
                secrets.delete_secret(KEYRING_NAME)

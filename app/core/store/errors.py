"""Errors the encrypted history can raise, each telling the user what to do next.

sqlcipher3 reports every failure to open as "file is not a database"; these types are how the
store tells the cases apart (see ``database.py`` and ``keys.py`` for how each is recognised).
"""

from __future__ import annotations

from app.core.errors import EnclaveError, ExitCode


class StoreError(EnclaveError):
    """Base of every history-store error."""

    exit_code = ExitCode.STORE


class CipherUnsupported(StoreError):
    """The SQLCipher library is not 4.x or lacks FTS5."""

    exit_code = ExitCode.CONFIGURATION


class KeyMissing(StoreError):
    """The database exists but its key is not in the keyring."""


class WrongKey(StoreError):
    """The key (or passphrase) does not decrypt this database."""


class PassphraseRequired(StoreError):
    """The database is (or will be) protected by a passphrase and none was given."""


class DatabaseDamaged(StoreError):
    """The file is truncated or corrupt; it was left exactly as it was."""


class NotEncrypted(StoreError):
    """A plain, unencrypted SQLite file sits where the encrypted history should be."""


class NewerSchema(StoreError):
    """The database was written by a newer Enclave; it was not touched."""


class ConversationNotFound(StoreError):
    """No conversation has that id."""

    exit_code = ExitCode.USAGE


class MessageNotFound(StoreError):
    """No message has that id."""

    exit_code = ExitCode.USAGE


class StoreClosed(StoreError):
    """The store was used after ``close()``."""

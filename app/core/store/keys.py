"""Where the database key comes from: the OS keyring, or a passphrase through Argon2id.

The key is 256 random bits kept hex-encoded in the OS keyring. When no trusted keyring can be
used, the history is never stored in plaintext: the user chooses a passphrase and the key is
derived from it with Argon2id. Either way a small JSON "key file" beside the database records
which mode is in use, the KDF salt and parameters, and a key check value, so that a wrong key
can be told apart from a damaged database without touching the database.

The key check is HMAC-SHA256(key, label). It lets nobody guess anything the encrypted database
does not already let them guess (trying a passphrase against page 1 costs the same Argon2 run).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.core.store.errors import StoreError

KEYRING_NAME = "history-db-key"
# Holds the new key while a rekey is under way; see rekey.py for the sequence.
KEYRING_NEXT_NAME = "history-db-key.next"

KEY_BYTES = 32
_CHECK_LABEL = b"enclave history key check v1"
_KEY_FILE_VERSION = 1


class KeyMode(StrEnum):
    """Where the key lives."""

    KEYRING = "keyring"
    PASSPHRASE = "passphrase"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters and salt for passphrase mode."""

    salt: bytes
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    def to_json(self) -> dict[str, Any]:
        """Serialise for the key file."""
        return {
            "algorithm": "argon2id",
            "salt": self.salt.hex(),
            "time_cost": self.time_cost,
            "memory_kib": self.memory_kib,
            "parallelism": self.parallelism,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> KdfParams:
        """Parse what ``to_json`` wrote."""
        if raw.get("algorithm") != "argon2id":
            raise ValueError("unknown KDF")
        return cls(
            salt=bytes.fromhex(str(raw["salt"])),
            time_cost=int(raw["time_cost"]),
            memory_kib=int(raw["memory_kib"]),
            parallelism=int(raw["parallelism"]),
        )


@dataclass(frozen=True)
class KeySpec:
    """One way to obtain a key: its mode, its check value and (passphrase) its KDF."""

    mode: KeyMode
    key_check: str
    kdf: KdfParams | None = None

    def to_json(self) -> dict[str, Any]:
        """Serialise for the key file."""
        out: dict[str, Any] = {"mode": self.mode.value, "key_check": self.key_check}
        if self.kdf is not None:
            out["kdf"] = self.kdf.to_json()
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> KeySpec:
        """Parse what ``to_json`` wrote."""
        kdf = raw.get("kdf")
        mode = KeyMode(raw["mode"])
        if mode is KeyMode.PASSPHRASE and kdf is None:
            raise ValueError("passphrase mode without KDF parameters")
        return cls(
            mode=mode,
            key_check=str(raw["key_check"]),
            kdf=KdfParams.from_json(kdf) if kdf is not None else None,
        )


@dataclass(frozen=True)
class KeyFile:
    """The key file's content: the key in use and, during a rekey, the one replacing it."""

    current: KeySpec
    pending: KeySpec | None = None


def key_file_path(db_path: Path) -> Path:
    """The key file that belongs to a database file."""
    return db_path.with_name(db_path.name + ".key.json")


def new_key() -> str:
    """A fresh random key, hex-encoded."""
    return secrets.token_bytes(KEY_BYTES).hex()


def new_kdf() -> KdfParams:
    """KDF parameters with a fresh salt."""
    return KdfParams(salt=secrets.token_bytes(16))


def derive_key(passphrase: str, kdf: KdfParams) -> str:
    """Derive a hex key from a passphrase with Argon2id."""
    # ~25 ms that only passphrase mode needs, not every start-up.
    from argon2.low_level import Type, hash_secret_raw

    raw = hash_secret_raw(
        secret=passphrase.encode("utf-8"),
        salt=kdf.salt,
        time_cost=kdf.time_cost,
        memory_cost=kdf.memory_kib,
        parallelism=kdf.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
    )
    return raw.hex()


def key_check(key_hex: str) -> str:
    """The check value stored beside the database for a key."""
    return hmac.new(bytes.fromhex(key_hex), _CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


def check_matches(spec: KeySpec, key_hex: str) -> bool:
    """Whether a key is the one a spec describes."""
    return hmac.compare_digest(spec.key_check, key_check(key_hex))


def read_key_file(db_path: Path) -> KeyFile | None:
    """Read the key file; ``None`` when there is none.

    Raises:
        StoreError: if the key file exists but cannot be understood.
    """
    path = key_file_path(db_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"The history key file {path} cannot be read ({type(exc).__name__}).",
            "Restore it from a backup; without it a passphrase-protected history cannot be "
            "opened. The database itself was not touched.",
        ) from exc
    try:
        if int(raw["version"]) != _KEY_FILE_VERSION:
            raise ValueError("unknown key file version")
        pending = raw.get("pending")
        return KeyFile(
            current=KeySpec.from_json(raw["current"]),
            pending=KeySpec.from_json(pending) if pending else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(
            f"The history key file {path} is damaged or from a newer Enclave.",
            "Restore it from a backup, or update Enclave. The database was not touched.",
        ) from exc


def write_key_file(db_path: Path, content: KeyFile) -> None:
    """Write the key file atomically (temp file, fsync, rename, fsync the directory)."""
    path = key_file_path(db_path)
    data: dict[str, Any] = {"version": _KEY_FILE_VERSION, "current": content.current.to_json()}
    if content.pending is not None:
        data["pending"] = content.pending.to_json()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Windows cannot open a directory for fsync; rename is durable enough there.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""Who is writing the log: the actor block, the install id and the signing keys."""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from app import __version__
from app.core.errors import EnclaveError

log = logging.getLogger(__name__)

HMAC_SECRET_NAME = "audit-hmac-key"
CONTENT_SECRET_NAME = "audit-content-key"


def install_id(data_dir: Path) -> str:
    """Return this installation's random id, creating ``data_dir/install_id`` the first time."""
    path = data_dir / "install_id"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    new_id = secrets.token_hex(16)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: two processes starting together must agree on one id.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(new_id + "\n")
    return new_id


def actor(data_dir: Path) -> dict[str, Any]:
    """Return the ``actor`` block for records written by this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        user = ""
    getuid = getattr(os, "getuid", None)
    return {
        "user": user,
        "uid": getuid() if getuid is not None else None,
        "host": socket.gethostname(),
        "install_id": install_id(data_dir),
        # Which build acted: the one version string from pyproject.toml.
        "version": __version__,
    }


def _keyring_key(name: str, *, create: bool) -> bytes | None:
    """Read (or create) a 256-bit key in the trusted OS keyring; ``None`` if unusable."""
    from app.core.secrets import get_secret, set_secret

    try:
        stored = get_secret(name)
        if stored is None:
            if not create:
                return None
            key = secrets.token_bytes(32)
            set_secret(name, base64.b64encode(key).decode("ascii"))
            return key
        return base64.b64decode(stored)
    except (EnclaveError, ValueError) as exc:  # KeyringUnavailable, or a mangled value
        # Not a warning: callers report unsigned checkpoints where a person will see it.
        log.info("audit key %s unavailable from the keyring: %s", name, type(exc).__name__)
        return None
    except Exception as exc:  # noqa: BLE001 - a keyring backend may fail in its own way
        log.warning("audit key %s: keyring failed: %s", name, type(exc).__name__)
        return None


def signing_key(explicit: bytes | None, *, create: bool = True) -> bytes | None:
    """Return the checkpoint HMAC key: the explicit one, else the keyring's, else ``None``."""
    if explicit is not None:
        return explicit
    return _keyring_key(HMAC_SECRET_NAME, create=create)


def content_key(explicit_hmac_key: bytes | None, *, create: bool = True) -> bytes | None:
    """Return the key that encrypts logged prompt/answer text.

    With an explicit HMAC key (a site without a keyring, or a test) the content key is derived
    from it under a distinct label, so one secret never serves two purposes directly.
    """
    if explicit_hmac_key is not None:
        return hmac.new(explicit_hmac_key, b"enclave-audit-content-key:v1", hashlib.sha256).digest()
    return _keyring_key(CONTENT_SECRET_NAME, create=create)

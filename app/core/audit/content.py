"""Encryption of prompt and answer text, for sites whose policy logs content.

Text is sealed with AES-256-GCM before it reaches the log; the record carries only the
ciphertext. ``cryptography`` is not a declared dependency of Enclave (on Linux it arrives with
the keyring's Secret Service backend), so its absence is a clear configuration error rather
than a silent fallback to plaintext.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from app.core.audit.errors import AuditConfigError

ALGORITHM = "AES-256-GCM"


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise AuditConfigError(
            "Policy asks the audit log to keep prompt and answer text, but the 'cryptography' "
            "package that encrypts it is not installed.",
            "Install 'cryptography' alongside Enclave, or set the audit policy's log_content "
            "to false.",
        ) from exc
    return AESGCM(key)


def check_available(key: bytes | None) -> None:
    """Fail early when content logging is asked for but cannot be done safely.

    Raises:
        AuditConfigError: if there is no key or no AES-GCM implementation.
    """
    if key is None:
        raise AuditConfigError(
            "Policy asks the audit log to keep prompt and answer text, but no key is available "
            "to encrypt it (the OS keyring is unavailable).",
            "Unlock the desktop keyring, or set the audit policy's log_content to false.",
        )
    _aesgcm(key)


def seal_content(key: bytes, aad: str, texts: dict[str, str]) -> dict[str, str]:
    """Encrypt ``texts`` (e.g. ``{"prompt": ..., "answer": ...}``) into a record field.

    Args:
        key: 32-byte key.
        aad: Authenticated data binding the ciphertext to its record (session and seq), so a
            ciphertext cannot be moved to another record unnoticed.
        texts: The plaintexts.

    Returns:
        ``{"alg", "nonce", "ct"}`` with base64 values.
    """
    nonce = os.urandom(12)
    plain = json.dumps(texts, ensure_ascii=False).encode("utf-8")
    ct = _aesgcm(key).encrypt(nonce, plain, aad.encode("utf-8"))
    return {
        "alg": ALGORITHM,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ct": base64.b64encode(ct).decode("ascii"),
    }


def open_content(key: bytes, aad: str, sealed: dict[str, str]) -> dict[str, str]:
    """Decrypt a field made by ``seal_content``.

    Raises:
        AuditConfigError: if ``cryptography`` is missing.
        cryptography.exceptions.InvalidTag: if the key, the aad or the ciphertext is wrong.
    """
    nonce = base64.b64decode(sealed["nonce"])
    ct = base64.b64decode(sealed["ct"])
    plain = _aesgcm(key).decrypt(nonce, ct, aad.encode("utf-8"))
    result = json.loads(plain.decode("utf-8"))
    if not isinstance(result, dict):
        raise ValueError("sealed content is not an object")
    return {str(k): str(v) for k, v in result.items()}


def content_aad(session: str, seq: int) -> str:
    """Return the authenticated data for a record's content."""
    return f"enclave-audit:{session}:{seq}"

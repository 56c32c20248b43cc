"""The report's seal: a SHA-256 over its canonical JSON and an HMAC with the audit key.

The key is the audit log's HMAC key (the OS keyring's ``audit-hmac-key``), used through a
derivation under its own label, as the audit log derives its content key: one secret never
serves two purposes directly. A report signed on another machine (another key) says so
instead of passing; a site that ships reports between machines approves them with an
administrator's approval file instead (see ``gate``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from app.core.audit.identity import signing_key

ALGORITHM = "HMAC-SHA256"
_LABEL = b"enclave-model-evaluation-report:v1"
SEAL_FIELDS = ("sha256", "signature")


def report_key(audit_key: bytes | None = None, *, create: bool = True) -> bytes | None:
    """The report key derived from the audit key (``None`` without a usable keyring).

    Args:
        audit_key: The audit HMAC key when the keyring cannot give it (tests, sites without
            one); ``None`` asks the keyring.
        create: Create the audit key when the keyring has none yet.
    """
    base = signing_key(audit_key, create=create)
    if base is None:
        return None
    return hmac.new(base, _LABEL, hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """A short public name for a key, so a report says which machine's key signed it."""
    return hashlib.sha256(b"enclave-key-id:" + key).hexdigest()[:16]


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes that are hashed and signed: sorted keys, no spaces, UTF-8."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return text.encode("utf-8")


def body_of(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its seal."""
    return {k: v for k, v in report.items() if k not in SEAL_FIELDS}


def seal(body: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """The report with its SHA-256 and, when there is a key, its signature.

    Any seal ``body`` already carries is replaced.
    """
    body = body_of(body)
    data = canonical(body)
    signature = None
    if key is not None:
        signature = {"alg": ALGORITHM, "key_id": key_id(key),
                     "mac": hmac.new(key, data, hashlib.sha256).hexdigest()}
    return {**body, "sha256": hashlib.sha256(data).hexdigest(), "signature": signature}


@dataclass(frozen=True)
class Verification:
    """Whether a report is what was written, signed by this machine's key.

    Attributes:
        ok: Intact and signed with this machine's key.
        intact: The content matches its SHA-256.
        signed: It carries a signature at all.
        reason: One sentence for people.
    """

    ok: bool
    intact: bool
    signed: bool
    reason: str


def verify(report: Any, key: bytes | None) -> Verification:
    """Check a report's hash and signature. Never raises."""
    if not isinstance(report, dict):
        return Verification(False, False, False, "The report is not a JSON object.")
    try:
        data = canonical(body_of(report))
    except (TypeError, ValueError):
        return Verification(False, False, False, "The report holds values JSON cannot carry.")
    stated, signature = report.get("sha256"), report.get("signature")
    if not isinstance(stated, str) or not hmac.compare_digest(
            hashlib.sha256(data).hexdigest(), stated):
        return Verification(False, False, bool(signature),
                            "The report was changed after it was written (its SHA-256 does not "
                            "match its content).")
    if not isinstance(signature, dict) or not isinstance(signature.get("mac"), str):
        return Verification(False, True, False, "The report is not signed (no audit key was "
                                                "available when it was written).")
    if key is None:
        return Verification(False, True, True, "The report's signature cannot be checked: this "
                                               "machine has no audit key in its keyring.")
    if signature.get("key_id") != key_id(key):
        return Verification(False, True, True, "The report was signed with another machine's "
                                               "key.")
    expected = hmac.new(key, data, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(signature["mac"])):
        return Verification(False, True, True, "The report's signature does not match: it was "
                                               "altered or re-hashed without the key.")
    return Verification(True, True, True, "Intact and signed by this machine's audit key.")

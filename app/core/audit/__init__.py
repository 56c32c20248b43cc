"""Tamper-evident audit log: hash-chained records, signed checkpoints, verification, export.

Other modules use ``AuditLog(paths, ...).record(events.MODEL_CALL, ...)``; administrators use
``enclave audit verify|export|tail``.
"""

from __future__ import annotations

from app.core.audit import events
from app.core.audit.errors import AuditConfigError, AuditLogMissing, AuditUnavailable
from app.core.audit.log import AuditLog, audit_log_path
from app.core.audit.verify import VerifyReport, verify

__all__ = [
    "AuditConfigError",
    "AuditLog",
    "AuditLogMissing",
    "AuditUnavailable",
    "VerifyReport",
    "audit_log_path",
    "events",
    "verify",
]

"""Typed errors of the audit log."""

from __future__ import annotations

from app.core.errors import ConfigurationError, EnclaveError, ExitCode


class AuditUnavailable(EnclaveError):
    """The audit record could not be written and policy requires auditing.

    The caller must not show the answer: the action it describes did not leave a record.
    """

    exit_code = ExitCode.AUDIT


class AuditConfigError(ConfigurationError):
    """The audit settings (forwarding address, content logging) cannot be used as given."""


class AuditLogMissing(EnclaveError):
    """There is no audit log at the expected place."""

    exit_code = ExitCode.FAILED

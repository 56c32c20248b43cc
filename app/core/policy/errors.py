"""Typed errors and findings of the policy loader."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import EnclaveError, ExitCode


class PolicyError(EnclaveError):
    """A policy file or value is not usable."""

    exit_code = ExitCode.FAILED


class PolicyFileError(PolicyError):
    """One policy file cannot be read or is not valid.

    Args:
        issues: Every problem found in the file, each with its JSON path.
    """

    def __init__(self, issues: list[PolicyIssue]) -> None:
        lines = "; ".join(str(issue) for issue in issues) or "invalid policy"
        super().__init__(lines, "Fix the file (see `enclave policy validate FILE`).")
        self.issues = issues


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in one policy source.

    Attributes:
        source: File path or registry key.
        path: JSON path of the offending value (``$.connector.enabled``), ``$`` for the file.
        reason: What is wrong, in words an administrator understands.
        key: The dotted policy key concerned, or None when the whole source is affected.
    """

    source: str
    path: str
    reason: str
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.reason}"

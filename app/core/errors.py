"""Typed errors a user can meet.

Every error carries what happened and what to do next. The CLI maps ``exit_code`` to its exit
status; the GUI shows ``message`` and ``hint`` in a dialog or banner. No traceback reaches a user.
"""

from __future__ import annotations


class EnclaveError(Exception):
    """Base of every error a user may see.

    Args:
        message: What happened, in words a user understands. Never contains prompt text.
        hint: What to do next.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigurationError(EnclaveError):
    """The installation or environment is not usable as it is."""

    exit_code = 3

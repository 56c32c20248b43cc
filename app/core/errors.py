"""Typed errors a user can meet.

Every error carries what happened and what to do next. The CLI maps ``exit_code`` to its exit
status; the GUI shows ``message`` and ``hint`` in a dialog or banner. No traceback reaches a user.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique  # two names for one number would be two meanings for one exit status
class ExitCode(IntEnum):
    """Every exit status ``enclave`` uses, one meaning each (scripts branch on them).

    Errors name theirs as ``exit_code = ExitCode.X``; a test checks that every error in
    ``app`` does.
    """

    OK = 0
    FAILED = 1  # a check found a problem (verify, doctor), or an error with no better code
    USAGE = 2  # a value outside what the command accepts, or no item with that id
    CONFIGURATION = 3  # the installation or a configuration file cannot be used as it is
    SETTINGS = 4  # a setting cannot take that value, or is locked by policy
    STORE = 5  # the encrypted history or its key cannot be used
    ENGINE = 6  # the model engine failed while answering
    REFUSED = 7  # policy refused: a route, an export, a download, the network, the budget
    DECLINED = 8  # the user declined to send a request off the machine
    MODEL = 9  # a model file cannot be used (missing, damaged, not approved)
    AUDIT = 10  # policy requires the audit log and it cannot be written
    UNEXPECTED = 70  # a bug: details in the log (sysexits' EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl+C (128 + SIGINT, as shells report it)


class EnclaveError(Exception):
    """Base of every error a user may see.

    Args:
        message: What happened, in words a user understands. Never contains prompt text.
        hint: What to do next.
    """

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigurationError(EnclaveError):
    """The installation or environment is not usable as it is."""

    exit_code = ExitCode.CONFIGURATION

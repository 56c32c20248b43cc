"""Errors a user can meet while finding, checking or loading a model."""

from __future__ import annotations

from app.core.errors import EnclaveError, ExitCode


class ModelError(EnclaveError):
    """Base of model errors."""

    exit_code = ExitCode.MODEL


class ModelNotFound(ModelError):
    """No model file where one was expected."""


class ModelFileInvalid(ModelError):
    """The file is not a usable GGUF model (wrong format, truncated, hostile metadata)."""


class ModelDigestMismatch(ModelError):
    """The file's bytes are not the ones the catalog or policy approved."""


class ModelBlocked(ModelError):
    """Policy does not allow this model."""


class ModelLoadFailed(ModelError):
    """llama.cpp could not load or run the model."""

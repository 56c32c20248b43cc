"""Errors a user can meet while indexing or asking their documents."""

from __future__ import annotations

from app.core.errors import EnclaveError, ExitCode


class DocumentsError(EnclaveError):
    """Base of the documents feature's errors."""

    exit_code = ExitCode.FAILED


class DocumentsDisabled(DocumentsError):
    """Policy turns the documents feature off."""

    exit_code = ExitCode.REFUSED


class EmbeddingModelMissing(DocumentsError):
    """The embedding model or its tokenizer is not installed, or its bytes are not approved."""

    exit_code = ExitCode.CONFIGURATION


class CollectionNotFound(DocumentsError):
    """No collection has that name."""


class DocumentsSchemaNewer(DocumentsError):
    """A newer Enclave wrote the documents tables."""

    exit_code = ExitCode.CONFIGURATION


class FileRejected(DocumentsError):
    """One file cannot be indexed; the message says why. The rest of the batch goes on."""

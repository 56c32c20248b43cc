"""Errors a user can meet while indexing or asking their documents."""

from __future__ import annotations

from app.core.errors import EnclaveError


class DocumentsError(EnclaveError):
    """Base of the documents feature's errors."""

    exit_code = 1


class DocumentsDisabled(DocumentsError):
    """Policy turns the documents feature off."""

    exit_code = 4


class EmbeddingModelMissing(DocumentsError):
    """The embedding model or its tokenizer is not installed, or its bytes are not approved."""

    exit_code = 3


class CollectionNotFound(DocumentsError):
    """No collection has that name."""


class DocumentsSchemaNewer(DocumentsError):
    """A newer Enclave wrote the documents tables."""

    exit_code = 3


class FileRejected(DocumentsError):
    """One file cannot be indexed; the message says why. The rest of the batch goes on."""

"""Fixtures for the documents tests: the real embedding model and a real encrypted index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.docs.embed import Embedder, EmbeddingFiles
from app.core.docs.index import DocumentIndex, open_index
from app.core.paths import AppPaths

PASSPHRASE = "documents test passphrase"


@pytest.fixture(scope="session")
def embedder(embedding_files: EmbeddingFiles) -> Embedder:
    """The real embedder, loaded once."""
    return Embedder(embedding_files, threads=1)


@pytest.fixture
def paths(passphrase_paths: AppPaths) -> AppPaths:
    """A private ENCLAVE_HOME with no keyring, so the passphrase path runs."""
    return passphrase_paths


@pytest.fixture
def index(paths: AppPaths) -> Iterator[DocumentIndex]:
    """The documents index in a fresh encrypted database."""
    idx = open_index(paths, passphrase=PASSPHRASE)
    yield idx
    idx.close()

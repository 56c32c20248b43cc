"""Fixtures for the documents tests: the real embedding model and a real encrypted index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import secrets
from app.core.docs.embed import Embedder, EmbeddingFiles
from app.core.docs.index import DocumentIndex, open_index
from app.core.paths import AppPaths, default_paths

PASSPHRASE = "documents test passphrase"


@pytest.fixture(scope="session")
def embedder(embedding_files: EmbeddingFiles) -> Embedder:
    """The real embedder, loaded once."""
    return Embedder(embedding_files, threads=1)


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppPaths]:
    """A private ENCLAVE_HOME with no keyring, so the passphrase path runs."""
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/enclave-test-bus")
    secrets.reset_backend_cache()
    yield default_paths().ensure()
    secrets.reset_backend_cache()


@pytest.fixture
def index(paths: AppPaths) -> Iterator[DocumentIndex]:
    """The documents index in a fresh encrypted database."""
    idx = open_index(paths, passphrase=PASSPHRASE)
    yield idx
    idx.close()

"""Fixtures for the documents tests: the real embedding model and a real encrypted index."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
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


@pytest.fixture(scope="module")
def topic_vectors(embedder: Embedder) -> npt.NDArray[np.float32]:
    """Real embeddings of the scale tests' topics (``test_scale_ann.TOPICS``)."""
    from tests.unit.core.docs.test_scale_ann import TOPICS

    return embedder.embed(TOPICS)


@pytest.fixture
def big(index: DocumentIndex, topic_vectors: npt.NDArray[np.float32]) -> int:
    """A collection of 3,000 chunks about the topics, its graph ready (one graph, or several
    shards where a test makes the shard bound small)."""
    from tests.unit.core.docs.test_scale_ann import _store, _vectors

    cid = index.ensure_collection("big")
    for f in range(3):
        _store(index, cid, f"/docs/file{f}.txt", _vectors(topic_vectors, 1000, seed=f))
    assert index.ann.wait(cid, timeout=120), "the graph never became ready"
    return cid

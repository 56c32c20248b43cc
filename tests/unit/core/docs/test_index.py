from __future__ import annotations

import numpy as np
import pytest

from app.core.docs.errors import CollectionNotFound, DocumentsSchemaNewer
from app.core.docs.index import DocumentIndex, NewChunk, open_index
from app.core.docs.schema import SCHEMA_VERSION
from app.core.paths import AppPaths
from app.core.store import open_history
from tests.unit.core.docs.conftest import PASSPHRASE


def _chunk(i: int, text: str) -> NewChunk:
    vec = np.zeros(384, dtype=np.float32)
    vec[i] = 1.0
    return NewChunk(i, text, None, None, 0, len(text), False, vec.tobytes())


def test_deleting_a_file_leaves_no_chunk_vector_or_fts_row(index: DocumentIndex) -> None:
    cid = index.ensure_collection("c")
    index.store_file(cid, "/a.txt", sha256="a", size=1, mtime=0.0,
                     chunks=[_chunk(0, "alpha words"), _chunk(1, "beta words")])
    index.store_file(cid, "/b.txt", sha256="b", size=1, mtime=0.0,
                     chunks=[_chunk(2, "gamma words")])
    assert index.counts()["doc_vectors"] == 3
    assert index.counts()["doc_chunks_fts"] == 3

    assert index.remove_file("/a.txt") == 1
    counts = index.counts()
    assert (counts["doc_files"], counts["doc_chunks"], counts["doc_vectors"],
            counts["doc_chunks_fts"]) == (1, 1, 1, 1)
    assert index.query("SELECT count(*) FROM doc_chunks_fts WHERE doc_chunks_fts MATCH 'alpha'"
                       )[0][0] == 0

    index.remove_collection("c")
    assert all(v == 0 for v in index.counts().values())
    with pytest.raises(CollectionNotFound):
        index.collection("c")


def test_storing_a_file_again_replaces_its_chunks(index: DocumentIndex) -> None:
    cid = index.ensure_collection("c")
    index.store_file(cid, "/a.txt", sha256="1", size=1, mtime=0.0,
                     chunks=[_chunk(0, "old"), _chunk(1, "old too")])
    index.store_file(cid, "/a.txt", sha256="2", size=1, mtime=0.0, chunks=[_chunk(0, "new")])
    assert [r[0] for r in index.query("SELECT text FROM doc_chunks")] == ["new"]
    assert index.counts()["doc_vectors"] == 1


def test_local_only_can_be_set_but_is_never_silently_cleared(index: DocumentIndex) -> None:
    index.ensure_collection("secret", local_only=True)
    index.ensure_collection("secret")
    assert index.collection("secret").local_only


def test_documents_and_history_share_the_encrypted_file(paths: AppPaths) -> None:
    with open_index(paths, passphrase=PASSPHRASE) as idx:
        idx.ensure_collection("c")
        with open_history(paths, passphrase=PASSPHRASE) as history:
            cid = history.create_conversation("hello")
            assert history.schema_version() >= 1
            assert history.conversation(cid).title == "hello"
        assert idx.schema_version() == SCHEMA_VERSION
    # Reopening finds both, in either order.
    with open_history(paths, passphrase=PASSPHRASE) as history:
        assert history.counts()[0] == 1
    with open_index(paths, passphrase=PASSPHRASE) as idx:
        assert [c.name for c in idx.collections()] == ["c"]


def test_a_newer_documents_schema_is_refused_unchanged(paths: AppPaths) -> None:
    with open_index(paths, passphrase=PASSPHRASE) as idx:
        idx.write(lambda conn: conn.execute(
            "UPDATE docs_meta SET value = '99' WHERE key = 'schema_version'"))
    with pytest.raises(DocumentsSchemaNewer, match="newer Enclave"):
        open_index(paths, passphrase=PASSPHRASE)

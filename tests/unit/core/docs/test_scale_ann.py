"""Large collections go through an HNSW graph kept in the encrypted database: it finds what
exact search finds, follows every add and remove, survives a restart, and when it is missing
or damaged the questions are answered exactly while it is rebuilt."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import time

import numpy as np
import numpy.typing as npt
import pytest

from app.core.docs.embed import Embedder
from app.core.docs.index import DocumentIndex, NewChunk, open_index
from app.core.docs.retrieve import retrieve
from app.core.docs.schema import SCHEMA_VERSION
from app.core.paths import AppPaths
from tests.unit.core.docs.conftest import PASSPHRASE

# Above this many chunks a collection is searched through its graph (the app's is 20,000;
# the tests make the same switch at a size they can afford).
LIMIT = 200
TOPICS = [
    "The emergency generator is tested every second Tuesday.",
    "Expense claims must be filed within thirty days of travel.",
    "The cafeteria serves vegetarian lunch on Fridays.",
    "New laptops are issued by the service desk on the first floor.",
    "Fire drills happen twice a year and take about twenty minutes.",
    "Parking permits are renewed every January at reception.",
    "Visitors must sign in and wear a badge at all times.",
    "The VPN client must be updated before connecting from home.",
    "Quarterly revenue grew by four percent in the northern region.",
    "Annual leave requests need a manager's approval two weeks ahead.",
    "The data centre's cooling system is serviced each spring.",
    "Printer toner is ordered through the facilities portal.",
]
QUESTIONS = [
    "When is the generator tested?", "How long do I have to file expenses?",
    "Is there vegetarian food?", "Where do I get a new laptop?", "How often are fire drills?",
    "How do I renew my parking permit?", "Do visitors need a badge?",
    "Which VPN version do I need?", "How did revenue change?", "How do I book holidays?",
    "When is cooling maintenance?", "How do I order toner?",
]


def _vectors(base: npt.NDArray[np.float32], n: int, seed: int) -> npt.NDArray[np.float32]:
    """Chunks about the topics, each a blend of two with some noise, as real chunks are."""
    rng = np.random.default_rng(seed)
    a = base[rng.integers(0, len(base), n)]
    b = base[rng.integers(0, len(base), n)]
    w = rng.uniform(0.55, 1.0, (n, 1)).astype(np.float32)
    v = w * a + (1 - w) * b + rng.standard_normal((n, base.shape[1])).astype(np.float32) * 0.02
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _store(index: DocumentIndex, cid: int, name: str, vectors: npt.NDArray[np.float32]) -> None:
    chunks = [NewChunk(i, f"{name} passage {i}", None, None, 0, 10, False, v.tobytes())
              for i, v in enumerate(vectors)]
    index.store_file(cid, name, sha256=name, size=1, mtime=0.0, chunks=chunks)


def _nearest(index: DocumentIndex, query: npt.NDArray[np.float32], k: int = 10) -> list[int]:
    """What a user's question gets from the vector side (no words: BM25 stays out)."""
    passages = retrieve(index, query, "", collections=["big"], exact_limit=LIMIT,
                        max_passages=k, token_budget=10_000, min_similarity=-1.0)
    return [p.chunk_id for p in passages]


def _exact(index: DocumentIndex, query: npt.NDArray[np.float32], k: int = 10) -> list[int]:
    rows = index.query("SELECT id, vector FROM doc_chunks")
    ids = np.array([r[0] for r in rows])
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    return [int(i) for i in ids[np.argsort(-(matrix @ query))[:k]]]


def test_the_graph_finds_what_exact_search_finds(
    index: DocumentIndex, embedder: Embedder, big: int
) -> None:
    found = total = 0
    for question in QUESTIONS:
        q = embedder.embed_one(question)
        found += len(set(_nearest(index, q)) & set(_exact(index, q)))
        total += 10
    assert found / total >= 0.95
    stats = index.ann.stats(big)
    assert stats is not None and stats.vectors == 3000


def test_removed_chunks_are_never_returned_and_added_ones_are_found(
    paths: AppPaths, index: DocumentIndex, topic_vectors: npt.NDArray[np.float32], big: int
) -> None:
    removed = index.query("SELECT ch.id, ch.vector FROM doc_chunks ch JOIN doc_files f "
                          "ON f.id = ch.file_id WHERE f.path = '/docs/file1.txt' LIMIT 20")
    index.remove_file("/docs/file1.txt")
    fresh = _vectors(topic_vectors, 50, seed=99)
    _store(index, big, "/docs/new.txt", fresh)
    new_ids = {r[0] for r in index.query("SELECT ch.id FROM doc_chunks ch JOIN doc_files f "
                                         "ON f.id = ch.file_id WHERE f.path = '/docs/new.txt'")}

    def check(idx: DocumentIndex) -> None:
        gone = {r[0] for r in removed}
        for _, blob in removed:
            assert not gone & set(_nearest(idx, np.frombuffer(blob, dtype=np.float32)))
        for v in fresh[:10]:
            assert _nearest(idx, v, k=1)[0] in new_ids

    check(index)
    index.close()
    # After a restart the saved graph is loaded and the changes since are replayed onto it.
    with open_index(paths, passphrase=PASSPHRASE) as again:
        assert again.ann.wait(big, timeout=120)
        stats = again.ann.stats(big)
        assert stats is not None and stats.how.startswith("loaded") and stats.vectors == 2050
        check(again)


@pytest.mark.parametrize("damage", [
    "UPDATE doc_ann_parts SET data = zeroblob(length(data)) WHERE part = 0",  # same size
    "DELETE FROM doc_ann_parts WHERE part = (SELECT max(part) FROM doc_ann_parts)",  # short
    "UPDATE doc_ann_parts SET data = CAST(data || x'00ff' AS BLOB) WHERE part = 0",  # longer
    "UPDATE doc_ann_parts SET data = substr(data, 1, 100) WHERE part = 0",  # a cut part
])
def test_a_damaged_graph_is_rebuilt_and_answers_stay_exact_meanwhile(
    damage: str, paths: AppPaths, index: DocumentIndex, embedder: Embedder, big: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    index.ann.settle(big, min_changes=0)
    index.write(lambda conn: conn.execute(damage))
    index.close()
    q = embedder.embed_one(QUESTIONS[0])
    with caplog.at_level(logging.INFO, logger="app.core.docs.ann"), open_index(
        paths, passphrase=PASSPHRASE
    ) as again:
        # Before the graph is back the same question is answered by exact search.
        assert _nearest(again, q) == _exact(again, q)
        assert again.ann.wait(big, timeout=120)
        stats = again.ann.stats(big)
        assert stats is not None and stats.how == "built"
        assert len(set(_nearest(again, q)) & set(_exact(again, q))) >= 9
    assert any("damaged" in r.getMessage() and "rebuilding" in r.getMessage()
               for r in caplog.records)


def test_a_missing_graph_is_built_from_the_stored_vectors(
    paths: AppPaths, index: DocumentIndex, big: int, caplog: pytest.LogCaptureFixture,
) -> None:
    index.ann.settle(big, min_changes=0)
    index.write(lambda conn: conn.execute("DELETE FROM doc_ann"))
    index.close()
    with caplog.at_level(logging.INFO, logger="app.core.docs.ann"), open_index(
        paths, passphrase=PASSPHRASE
    ) as again:
        assert again.ann.wait(big, timeout=120)
        assert again.query("SELECT vectors FROM doc_ann")[0][0] == 3000
    assert any("graph built" in r.getMessage() for r in caplog.records)


def test_a_graph_built_among_other_collections_holds_its_own_chunks_only(
    index: DocumentIndex, topic_vectors: npt.NDArray[np.float32],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The build walks chunk ids in batches: small ones, so the walk crosses the other
    # collection's ids between this one's, and stops before those above its last.
    monkeypatch.setattr("app.core.docs.stored.BUILD_BATCH", 170)
    big, other = index.ensure_collection("big"), index.ensure_collection("other")
    for f in range(7):
        cid = big if f % 2 == 1 else other
        _store(index, cid, f"/docs/{f}.txt", _vectors(topic_vectors, 400, seed=f))
    assert index.ann.wait(big, timeout=120)
    stats = index.ann.stats(big)
    assert stats is not None and stats.how == "built" and stats.vectors == 1200
    graph = index.ann._entries[big].graph
    for chunk_id, cid in index.query("SELECT ch.id, f.collection_id FROM doc_chunks ch "
                                     "JOIN doc_files f ON f.id = ch.file_id"):
        assert graph.contains(int(chunk_id)) == (cid == big)


def test_an_index_from_before_the_graphs_opens_and_answers(
    paths: AppPaths, index: DocumentIndex, embedder: Embedder, big: int,
) -> None:
    def downgrade(conn: object) -> None:
        for statement in ("DROP TRIGGER doc_chunks_ann_delete", "DROP TABLE doc_ann_removed",
                          "DROP TABLE doc_ann_parts", "DROP TABLE doc_ann_shards",
                          "DROP TABLE doc_ann",
                          "UPDATE docs_meta SET value = '1' WHERE key = 'schema_version'"):
            conn.execute(statement)  # type: ignore[attr-defined]

    index.write(downgrade)
    index.close()
    q = embedder.embed_one(QUESTIONS[3])
    with open_index(paths, passphrase=PASSPHRASE) as again:
        assert again.schema_version() == SCHEMA_VERSION
        assert again.ann.wait(big, timeout=120)
        assert len(set(_nearest(again, q)) & set(_exact(again, q))) >= 9


def test_removing_the_collection_removes_its_graph(index: DocumentIndex, big: int) -> None:
    index.ann.settle(big, min_changes=0)
    assert index.query("SELECT count(*) FROM doc_ann_parts")[0][0] > 0
    index.remove_collection("big")
    assert index.query("SELECT count(*) FROM doc_ann")[0][0] == 0
    assert index.query("SELECT count(*) FROM doc_ann_parts")[0][0] == 0
    assert index.query("SELECT count(*) FROM doc_ann_removed")[0][0] == 0


def test_a_loaded_graph_that_changed_enough_is_rebuilt_and_saved(
    paths: AppPaths, index: DocumentIndex, topic_vectors: npt.NDArray[np.float32], big: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ann = importlib.import_module("app.core.docs.ann")
    index.ann.settle(big, min_changes=0)
    index.close()
    monkeypatch.setattr(ann, "SAVE_FLOOR", 10)
    with open_index(paths, passphrase=PASSPHRASE) as again:
        assert again.ann.wait(big, timeout=120)
        fresh = _vectors(topic_vectors, 1000, seed=7)
        _store(again, big, "/docs/more.txt", fresh)  # a third of the graph: rebuilt whole
        deadline = time.monotonic() + 120
        while again.query("SELECT vectors FROM doc_ann")[0][0] != 4000:
            assert time.monotonic() < deadline, "the grown graph was never saved"
            time.sleep(0.2)
        new_ids = {r[0] for r in again.query(
            "SELECT ch.id FROM doc_chunks ch JOIN doc_files f ON f.id = ch.file_id "
            "WHERE f.path = '/docs/more.txt'")}
        for v in fresh[:10]:
            assert _nearest(again, v, k=1)[0] in new_ids


def test_the_embedder_still_loads_after_a_graph() -> None:
    # onnxruntime's extension crashed the process when imported after usearch's.
    code = ("from app.core.docs.graph import new_graph; new_graph(); "
            "import onnxruntime; print('loaded')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr

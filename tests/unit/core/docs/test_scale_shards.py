"""A large collection's graph is kept in shards, each saved on its own (so no save stalls the
GUI for long): searching them all finds what exact search finds, adds and removes reach the
right shard, a restart loads every shard, and one damaged shard is rebuilt alone while the
questions are answered exactly. The shard bound is made tiny so a few thousand chunks span
several shards."""

from __future__ import annotations

import hashlib
import importlib
import logging
import time

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.docs import shards
from app.core.docs.embed import Embedder
from app.core.docs.graph import new_graph
from app.core.docs.index import DocumentIndex, open_index
from app.core.paths import AppPaths
from tests.unit.core.docs.conftest import PASSPHRASE
from tests.unit.core.docs.test_scale_ann import (
    QUESTIONS,
    _exact,
    _nearest,
    _store,
    _vectors,
)

BOUND = 500


@pytest.fixture(autouse=True)
def tiny_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards, "SHARD_LIMIT", BOUND)


def _shard_rows(index: DocumentIndex) -> list[tuple[int, int, int, float]]:
    """``(shard, low, vectors, saved)`` of each saved shard."""
    return [tuple(r) for r in index.query(
        "SELECT shard, low, vectors, saved FROM doc_ann_shards ORDER BY shard")]


def _recall(index: DocumentIndex, embedder: Embedder) -> float:
    found = 0
    for question in QUESTIONS:
        q = embedder.embed_one(question)
        found += len(set(_nearest(index, q)) & set(_exact(index, q)))
    return found / (10 * len(QUESTIONS))


def test_a_search_over_every_shard_finds_what_exact_search_finds(
    index: DocumentIndex, embedder: Embedder, big: int
) -> None:
    graph = index.ann._entries[big].graph
    assert [len(s.graph) for s in graph.shards] == [BOUND] * 6
    assert _recall(index, embedder) >= 0.95
    # Every shard was saved on its own, each with the ids it covers.
    rows = _shard_rows(index)
    assert [r[2] for r in rows] == [BOUND] * 6
    assert [r[1] for r in rows] == [s.low for s in graph.shards]


def test_writes_reach_the_right_shard_and_a_restart_loads_them_all(
    paths: AppPaths, index: DocumentIndex, embedder: Embedder,
    topic_vectors: npt.NDArray[np.float32], big: int,
) -> None:
    removed = index.query("SELECT ch.id, ch.vector FROM doc_chunks ch JOIN doc_files f "
                          "ON f.id = ch.file_id WHERE f.path = '/docs/file1.txt'")
    index.remove_file("/docs/file1.txt")  # the middle two shards empty
    fresh = _vectors(topic_vectors, 700, seed=99)
    _store(index, big, "/docs/new.txt", fresh)  # fills new shards at the end
    new_ids = {r[0] for r in index.query("SELECT ch.id FROM doc_chunks ch JOIN doc_files f "
                                         "ON f.id = ch.file_id WHERE f.path = '/docs/new.txt'")}
    sizes = [len(s.graph) for s in index.ann._entries[big].graph.shards]
    assert sizes == [BOUND, BOUND, 0, 0, BOUND, BOUND, BOUND, 200]

    def check(idx: DocumentIndex) -> None:
        gone = {r[0] for r in removed}
        for _, blob in removed[::50]:
            assert not gone & set(_nearest(idx, np.frombuffer(blob, dtype=np.float32)))
        for v in fresh[::70]:
            assert _nearest(idx, v, k=1)[0] in new_ids
        assert _recall(idx, embedder) >= 0.95

    check(index)
    index.close()
    # The saved shards are loaded and the changes since (none saved) replayed onto each.
    with open_index(paths, passphrase=PASSPHRASE) as again:
        assert again.ann.wait(big, timeout=120)
        stats = again.ann.stats(big)
        assert stats is not None and stats.how.startswith("loaded+replayed")
        assert stats.vectors == 2700
        graph = again.ann._entries[big].graph
        assert [len(s.graph) for s in graph.shards] == sizes
        check(again)


# How a shard goes bad: its bytes damaged, or saved by a version whose graphs may hold
# unreachable vectors (usearch issue #735, before the "-linked" format).
DAMAGES = {
    "damaged": "UPDATE doc_ann_parts SET data = zeroblob(length(data)) WHERE shard = 2",
    "of another format": "UPDATE doc_ann_shards SET format = "
                         f"'{shards.FORMAT.removesuffix('-linked')}' WHERE shard = 2",
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_one_bad_shard_is_rebuilt_alone_and_answers_stay_exact_meanwhile(
    paths: AppPaths, index: DocumentIndex, embedder: Embedder, big: int,
    caplog: pytest.LogCaptureFixture, damage: str,
) -> None:
    before = _shard_rows(index)
    index.write(lambda conn: conn.execute(DAMAGES[damage]))
    index.close()
    q = embedder.embed_one(QUESTIONS[0])
    with caplog.at_level(logging.INFO, logger="app.core.docs.ann"), open_index(
        paths, passphrase=PASSPHRASE
    ) as again:
        assert _nearest(again, q) == _exact(again, q)  # the first question starts the load
        assert again.ann.wait(big, timeout=120)
        stats = again.ann.stats(big)
        assert stats is not None and stats.how == "loaded, 1 of 6 shards rebuilt"
        assert len(set(_nearest(again, q)) & set(_exact(again, q))) >= 9
        after = _shard_rows(again)
    assert any(f"shard 2 is {damage}" in r.getMessage() for r in caplog.records)
    # Only the damaged shard was saved again.
    assert [r[3] != b[3] for r, b in zip(after, before, strict=True)] == [
        False, False, True, False, False, False]
    with open_index(paths, passphrase=PASSPHRASE) as third:
        assert third.ann.wait(big, timeout=120)
        stats = third.ann.stats(big)
        assert stats is not None and stats.how == "loaded"


def test_a_changed_shard_is_rebuilt_and_saved_alone(
    paths: AppPaths, index: DocumentIndex, embedder: Embedder, big: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ann = importlib.import_module("app.core.docs.ann")
    before = _shard_rows(index)
    index.close()
    monkeypatch.setattr(ann, "SAVE_FLOOR", 10)
    with open_index(paths, passphrase=PASSPHRASE) as again:
        assert again.ann.wait(big, timeout=120)
        gone = [r[0] for r in again.query("SELECT id FROM doc_chunks ORDER BY id LIMIT 200")]
        # 200 chunks of the first shard (and only those) go: past its quarter, it is rebuilt.

        def remove(conn: object) -> None:
            conn.execute(  # type: ignore[attr-defined]
                f"DELETE FROM doc_chunks WHERE id IN ({','.join('?' * len(gone))})", gone)
            again.ann.removed(big, gone)

        again.write(remove)
        deadline = time.monotonic() + 120
        while _shard_rows(again)[0][2] != BOUND - 200:
            assert time.monotonic() < deadline, "the changed shard was never saved"
            time.sleep(0.2)
        after = _shard_rows(again)
        assert [r[3] != b[3] for r, b in zip(after, before, strict=True)] == [
            True, False, False, False, False, False]
        assert _recall(again, embedder) >= 0.95


def test_a_graph_saved_whole_by_the_previous_version_still_opens(
    paths: AppPaths, index: DocumentIndex, embedder: Embedder, big: int,
) -> None:
    rows = index.query("SELECT id, vector FROM doc_chunks ORDER BY id")
    whole = new_graph()
    whole.add(np.asarray([r[0] for r in rows], dtype=np.uint64),
              np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1))
    data = bytes(whole.save())

    def downgrade(conn: object) -> None:
        for statement, args in [
            ("DROP TABLE doc_ann_parts", ()), ("DROP TABLE doc_ann_shards", ()),
            ("DELETE FROM doc_ann", ()),
            ("CREATE TABLE doc_ann_parts (collection_id INTEGER NOT NULL REFERENCES doc_ann "
             "(collection_id) ON DELETE CASCADE, part INTEGER NOT NULL, data BLOB NOT NULL, "
             "PRIMARY KEY (collection_id, part))", ()),
            ("INSERT INTO doc_ann VALUES (?, ?, ?, ?, 1, ?, ?, 0)",
             (big, shards.FORMAT, rows[-1][0], len(rows), len(data),
              hashlib.sha256(data).hexdigest())),
            ("INSERT INTO doc_ann_parts VALUES (?, 0, ?)", (big, data)),
            ("UPDATE docs_meta SET value = '2' WHERE key = 'schema_version'", ()),
        ]:
            conn.execute(statement, args)  # type: ignore[attr-defined]

    index.write(downgrade)
    index.close()
    q = embedder.embed_one(QUESTIONS[3])
    with open_index(paths, passphrase=PASSPHRASE) as again:
        assert _nearest(again, q) == _exact(again, q)
        assert again.ann.wait(big, timeout=120)
        stats = again.ann.stats(big)
        assert stats is not None and stats.how == "built" and stats.vectors == 3000
        assert len(set(_nearest(again, q)) & set(_exact(again, q))) >= 9
        assert [r[2] for r in _shard_rows(again)] == [BOUND] * 6


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.integers(1, 1300)),
                        min_size=1, max_size=8))
def test_shards_follow_any_sequence_of_adds_and_removes(
    batches: list[tuple[str, int]],
) -> None:
    """New ids only grow (as the database gives them); removals pick any held id."""
    rng = np.random.default_rng(len(batches))
    graph = shards.ShardedGraph()
    held: dict[int, npt.NDArray[np.float32]] = {}
    next_id = 1
    for kind, n in batches:
        if kind == "add":
            keys = np.arange(next_id, next_id + n, dtype=np.uint64)
            vectors = rng.standard_normal((n, 384)).astype(np.float32)
            graph.add(keys, vectors, threads=1)
            held.update(zip(keys.tolist(), vectors, strict=True))
            next_id += n
        elif held:
            keys = rng.choice(np.fromiter(held, dtype=np.uint64), min(n, len(held)), replace=False)
            graph.remove(keys)
            for k in keys.tolist():
                del held[k]
    assert len(graph) == len(held)
    assert all(len(s.graph) <= BOUND for s in graph.shards)
    assert [s.low for s in graph.shards] == sorted({s.low for s in graph.shards})
    for key in list(held)[::97]:
        assert graph.contains(key)
        # Each vector's own key comes first (exact match), whichever shard holds it.
        assert int(graph.search(held[key], 1).keys[0]) == key
    assert not graph.contains(next_id)

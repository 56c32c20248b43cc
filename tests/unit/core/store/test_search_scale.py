"""History search on words in most messages: still ranked by bm25, and the work it does stays
the same however many messages hold the word (SQLite's own instruction count is the measure,
so the test is about work, not the speed of this machine)."""

from __future__ import annotations

import pytest

import app.core.store.search as fts
from app.core.store import HistoryStore
from app.core.store.records import MARK_END, MARK_START

WINDOW = 40
BROAD = 60


@pytest.fixture
def bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's window and breadth, scaled to what a test can afford to write."""
    monkeypatch.setattr(fts, "RANK_WINDOW", WINDOW)
    monkeypatch.setattr(fts, "BROAD_MATCH_DOCS", BROAD)


class Counted:
    """Runs the store's reads and counts SQLite's virtual-machine steps while they run."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.steps = 0

    def __call__(self, sql: str, params: tuple[object, ...]) -> list[object]:
        def tick() -> int:
            self.steps += 1
            return 0

        conn = self.store._read
        conn.set_progress_handler(tick, 10)
        try:
            return self.store._query(sql, params)
        finally:
            conn.set_progress_handler(None, 0)


def _fill(store: HistoryStore, n: int, text: str) -> list[int]:
    cid = store.create_conversation(f"{n} of {text}")
    return [store.add_message(cid, "user", f"{text} {i}") for i in range(n)]


@pytest.fixture
def many(store: HistoryStore, bounded: None) -> HistoryStore:
    return store


def _work(store: HistoryStore, query: str) -> int:
    counted = Counted(store)
    fts.search(counted, query, 20)
    return counted.steps


def test_a_very_common_word_costs_the_same_at_any_count(many: HistoryStore) -> None:
    _fill(many, 150, "status update filler words here")
    small = _work(many, "status")
    _fill(many, 600, "status update filler words here")
    large = _work(many, "status")
    assert large < small * 1.5, (small, large)


def test_common_words_are_ranked_by_bm25_within_the_window(many: HistoryStore) -> None:
    _fill(many, 300, "status update filler words here and there")
    cid = many.create_conversation("recent")
    once = many.add_message(cid, "user", "status of the build")
    thrice = many.add_message(cid, "user", "status status status")
    long_once = many.add_message(cid, "user", "status " + "long message words " * 20)
    hits = many.search("status", limit=WINDOW)
    ids = [h.message_id for h in hits]
    # More occurrences in a shorter message first; a long message with one mention last.
    assert ids[0] == thrice
    assert ids.index(once) < ids.index(long_once)
    assert all(a.score <= b.score for a, b in zip(hits, hits[1:], strict=False))
    assert f"{MARK_START}status{MARK_END}" in hits[0].snippet


def test_one_letter_is_a_word_not_a_prefix_and_costs_little(many: HistoryStore) -> None:
    _fill(many, 400, "another answer about apples and apricots")
    cid = many.create_conversation("letters")
    plan_a = many.add_message(cid, "user", "plan a is the cheaper one")
    hits = many.search("a")
    assert [h.message_id for h in hits] == [plan_a]
    assert _work(many, "a") < _work(many, "another") * 2


def test_phrases_still_rank_above_scattered_words_when_both_are_common(
    many: HistoryStore,
) -> None:
    _fill(many, 200, "red and green and blue apple")
    cid = many.create_conversation("pie")
    exact = many.add_message(cid, "user", "a red apple on the table")
    hits = many.search("red apple")
    assert hits[0].message_id == exact
    assert f"{MARK_START}red apple{MARK_END}" in hits[0].snippet


def test_rare_words_are_found_however_old(many: HistoryStore) -> None:
    cid = many.create_conversation("old")
    old = many.add_message(cid, "user", "the zebracorn budget line")
    _fill(many, 300, "newer messages without the word")
    assert [h.message_id for h in many.search("zebracorn")] == [old]
    assert [h.message_id for h in many.search("zebrac")] == [old]

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.store import MARK_END, MARK_START, HistoryStore
from app.core.store.database import connect
from app.core.store.keys import derive_key, read_key_file


def test_exact_phrase_ranks_above_scattered_words(store: HistoryStore) -> None:
    scattered = store.create_conversation("scattered")
    # Many repetitions of each word: bm25 alone would rank this first.
    store.add_message(
        scattered, "user", "pie pie pie. apple apple apple, red red red. " * 3 + "apple red pie"
    )
    exact = store.create_conversation("exact")
    store.add_message(
        exact, "assistant", "Long text before the words we want. " * 5 + "red apple pie here."
    )
    hits = store.search("red apple pie")
    assert [h.conversation_title for h in hits] == ["exact", "scattered"]
    assert f"{MARK_START}red apple pie{MARK_END}" in hits[0].snippet
    assert ("red apple pie", True) in hits[0].snippet_parts()


def test_prefix_of_last_word_matches(store: HistoryStore) -> None:
    cid = store.create_conversation("t")
    store.add_message(cid, "user", "quarterly forecast spreadsheet")
    assert len(store.search("quarterly fore")) == 1
    assert store.search("") == []
    assert store.search("   ...   ") == []


@pytest.mark.parametrize(
    "query",
    ['"', 'red "apple', "AND", "NEAR(a b)", "a OR", "col:red", "*", "(((", "'; DROP TABLE x;--"],
)
def test_fts_syntax_in_user_text_never_errors(store: HistoryStore, query: str) -> None:
    cid = store.create_conversation("t")
    store.add_message(cid, "user", "red apple AND NEAR col")
    store.search(query)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=40))
def test_any_text_is_a_valid_search(store: HistoryStore, query: str) -> None:
    store.search(query)


def test_deleted_conversations_never_found_and_leave_no_index_rows(
    store: HistoryStore, passphrase: str
) -> None:
    keep = store.create_conversation("keep")
    store.add_message(keep, "user", "zebracorn in the keep conversation")
    gone = store.create_conversation("gone")
    for i in range(5):
        store.add_message(gone, "user", f"zebracorn secret number {i} xylophoneq")
    assert len(store.search("zebracorn")) == 6
    store.delete_conversation(gone)
    assert [h.conversation_id for h in store.search("zebracorn")] == [keep]
    assert store.search("xylophoneq") == []

    # The FTS index itself (not only the join) holds no trace of the deleted rows.
    key_file = read_key_file(store.path)
    assert key_file is not None
    assert key_file.current.kdf is not None
    conn = connect(store.path, derive_key(passphrase, key_file.current.kdf), create=False)
    try:
        rows = conn.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'xylophoneq'"
        ).fetchall()
        conn.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, messages_fts, row)")
        vocab = conn.execute("SELECT term FROM temp.v WHERE term = 'xylophoneq'").fetchall()
    finally:
        conn.close()
    assert rows == []
    assert vocab == []


def test_words_in_most_messages_come_newest_first_phrases_still_on_top(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.core.store.search as search

    monkeypatch.setattr(search, "BROAD_MATCH_DOCS", 2)
    cid = store.create_conversation("t")
    ids = [store.add_message(cid, "user", f"common word number {i}") for i in range(4)]
    scattered = store.add_message(cid, "user", "word then common")
    hits = store.search("common word")
    assert [h.message_id for h in hits] == [*reversed(ids), scattered]
    assert [h.message_id for h in store.search("common")] == [scattered, *reversed(ids)]

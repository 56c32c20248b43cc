from __future__ import annotations

import json
import threading

import pytest

from app.core.paths import AppPaths
from app.core.store import (
    ConversationNotFound,
    HistoryStore,
    MessageNotFound,
    StoreClosed,
    open_history,
)


def test_messages_round_trip_with_branches_and_metrics(store: HistoryStore) -> None:
    cid = store.create_conversation("Budget", route="local")
    q = store.add_message(cid, "user", "How much?")
    a1 = store.add_message(cid, "assistant", "", parent_id=q, model_id="m", complete=False)
    store.update_message(a1, text="About 40", complete=False, completion_tokens=2)
    store.update_message(
        a1, text="About 40 euros.", complete=True, prompt_tokens=10, ttft_ms=12.5, tokens_per_s=30
    )
    a2 = store.add_message(cid, "assistant", "Regenerated", parent_id=q)

    msgs = store.messages(cid)
    assert [m.id for m in msgs] == [q, a1, a2]
    first = msgs[1]
    assert first.text == "About 40 euros."
    assert first.complete
    assert first.parent_id == q
    # Metrics left as None keep what an earlier update stored.
    assert (first.prompt_tokens, first.completion_tokens) == (10, 2)
    assert first.ttft_ms == 12.5
    assert msgs[2].parent_id == q


def test_partial_answer_is_kept_marked_incomplete(
    paths: AppPaths, no_keyring: None, passphrase: str
) -> None:
    with open_history(paths, passphrase=passphrase) as s:
        cid = s.create_conversation("t")
        mid = s.add_message(cid, "assistant", "", complete=False)
        s.update_message(mid, text="half an ans", complete=False)
    with open_history(paths, passphrase=passphrase) as s:
        (m,) = s.messages(cid)
    assert (m.text, m.complete) == ("half an ans", False)


def test_list_is_pinned_first_then_newest_updated(
    paths: AppPaths, no_keyring: None, passphrase: str
) -> None:
    now = [1000.0]
    with open_history(paths, passphrase=passphrase, clock=lambda: now[0]) as s:
        ids = []
        for i in range(4):
            now[0] += 1
            ids.append(s.create_conversation(f"c{i}"))
        s.pin(ids[0], True)
        now[0] += 1
        s.add_message(ids[1], "user", "bump")  # a new message moves it up
        order = [c.id for c in s.list_conversations()]
        assert order == [ids[0], ids[1], ids[3], ids[2]]
        assert [c.id for c in s.list_conversations(limit=2, offset=1)] == [ids[1], ids[3]]
        s.pin(ids[0], False)
        assert s.list_conversations()[0].id == ids[1]


def test_rename_delete_and_missing_ids(store: HistoryStore) -> None:
    cid = store.create_conversation("old")
    store.rename(cid, "new")
    assert store.conversation(cid).title == "new"
    store.delete_conversation(cid)
    with pytest.raises(ConversationNotFound):
        store.conversation(cid)
    with pytest.raises(ConversationNotFound):
        store.delete_conversation(cid)
    with pytest.raises(ConversationNotFound):
        store.add_message(cid, "user", "x")
    with pytest.raises(MessageNotFound):
        store.update_message(12345, text="x", complete=True)
    other = store.create_conversation("other")
    foreign = store.add_message(other, "user", "x")
    mine = store.create_conversation("mine")
    with pytest.raises(MessageNotFound):
        store.add_message(mine, "assistant", "y", parent_id=foreign)
    with pytest.raises(ValueError):
        store.add_message(mine, "wizard", "y")


def test_retention_deletes_only_stale_conversations(
    paths: AppPaths, no_keyring: None, passphrase: str
) -> None:
    day = 86_400.0
    now = [100 * day]
    with open_history(paths, passphrase=passphrase, clock=lambda: now[0]) as s:
        old = s.create_conversation("old")
        s.add_message(old, "user", "ancient text")
        now[0] += 20 * day
        fresh = s.create_conversation("fresh")
        now[0] += 15 * day
        assert s.apply_retention(0) == 0
        assert s.apply_retention(30) == 1
        assert [c.id for c in s.list_conversations()] == [fresh]
        assert s.search("ancient") == []
        assert s.counts() == (1, 0)


def test_export_markdown_and_json(store: HistoryStore) -> None:
    cid = store.create_conversation("Plan")
    store.add_message(cid, "user", "Hello **there**")
    store.add_message(cid, "assistant", "Hi", model_id="qwen", complete=False)
    md = store.export_conversation(cid, "md")
    assert md.startswith("# Plan")
    assert "Hello **there**" in md
    assert "## assistant (qwen) — incomplete" in md
    data = json.loads(store.export_conversation(cid, "json"))
    assert data["conversation"]["title"] == "Plan"
    assert [m["text"] for m in data["messages"]] == ["Hello **there**", "Hi"]
    with pytest.raises(ValueError):
        store.export_conversation(cid, "pdf")


def test_concurrent_writers_all_acknowledged_writes_land(store: HistoryStore) -> None:
    cid = store.create_conversation("busy")
    acked: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(25):
            mid = store.add_message(cid, "user", f"thread {n} message {i}")
            with lock:
                acked.append(mid)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for _ in range(20):  # reads interleave with the writes
        store.list_conversations()
        store.search("message")
    for t in threads:
        t.join(timeout=60)
    assert sorted(acked) == sorted(m.id for m in store.messages(cid))
    assert len(acked) == 150


def test_closed_store_refuses_use(paths: AppPaths, no_keyring: None, passphrase: str) -> None:
    s = open_history(paths, passphrase=passphrase)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreClosed):
        s.create_conversation("x")
    with pytest.raises(StoreClosed):
        s.list_conversations()

"""Conversations marked sensitive stay marked, in the encrypted history, until deleted."""

from __future__ import annotations

from app.core.store import HistoryStore


def test_a_mark_is_kept_with_its_first_reason_and_goes_with_the_conversation(
    store: HistoryStore,
) -> None:
    cid = store.create_conversation("plans")
    other = store.create_conversation("recipes")
    assert store.sensitive_reason(cid) is None
    store.mark_sensitive(cid, "contains a classification marking", 1.0)
    store.mark_sensitive(cid, "later reason", 2.0)
    assert store.sensitive_reason(cid) == "contains a classification marking"
    assert store.sensitive_reason(other) is None
    assert store.sensitive_reason(2**70) is None  # no row can have it: not an error
    store.delete_conversation(cid)
    assert store.sensitive_reason(cid) is None

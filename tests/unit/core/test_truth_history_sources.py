"""What a stored conversation shows stays true: sources go into every export, copied source
markers come out of older answers wherever they are shown, a regenerated answer says where
the later turns stayed.

Real SQLCipher history and audit log (no model: the messages are stored directly).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.core.context import AppContext, open_app
from app.core.conversation_view import view_conversation
from app.core.history_actions import export_conversation
from app.core.paths import AppPaths
from app.core.store import HistoryStore

DOC_SHA = "ab" * 32
PASSAGE = "The emergency generator in building 7 is tested every second Tuesday at 06:00."
ANSWER = ("<<<SOURCE 1 k7q2m9xa: facilities.pdf p.2>>>\nIt is tested every second Tuesday [1]."
          "\n<<<END SOURCE 1>>")


@dataclass(frozen=True)
class Cited:
    """A numbered source as a grounded turn hands it to the history."""

    n: int
    collection: str
    file: str
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    sha256: str | None
    text: str
    flagged: bool = False


@pytest.fixture
def app(app_paths: AppPaths) -> Iterator[AppContext]:
    ctx = open_app(app_paths, passphrase="history sources passphrase")
    yield ctx
    ctx.close()


def _grounded(h: HistoryStore) -> tuple[int, int]:
    cid = h.create_conversation("generator")
    q = h.add_message(cid, "user", "When is the generator tested?")
    a = h.add_message(cid, "assistant", ANSWER, parent_id=q, model_id="smollm2")
    h.save_sources(a, [Cited(1, "ops", "/docs/facilities.pdf", 2, None, 0, len(PASSAGE),
                             DOC_SHA, PASSAGE)])
    h.set_scope(cid, ["ops"])
    return cid, a


def test_markdown_export_lists_each_answers_sources_without_copied_markers(
    app: AppContext,
) -> None:
    assert app.history is not None
    cid, _ = _grounded(app.history)
    text = export_conversation(app.policy, app.history, app.audit, cid, "md")
    answer = text.split("## assistant (smollm2)")[1]
    assert "It is tested every second Tuesday [1]." in answer
    assert "SOURCE" not in text and "<<<" not in text
    assert "Sources:" in answer
    assert ("- [1] facilities.pdf p.2 — collection ops, file /docs/facilities.pdf, "
            f"sha256 {DOC_SHA}") in answer
    assert "ops" in text.split("## user")[0], "the conversation's collections head it"


def test_json_export_carries_sources_and_scope_and_the_audit_record_their_digests(
    app: AppContext,
) -> None:
    assert app.history is not None and app.audit is not None
    cid, a = _grounded(app.history)
    data = json.loads(export_conversation(app.policy, app.history, app.audit, cid, "json",
                                          path="out.json"))
    assert data["collections"] == ["ops"]
    answer = next(m for m in data["messages"] if m["id"] == a)
    assert "SOURCE" not in answer["text"]
    assert answer["sources"] == [{
        "n": 1, "label": "facilities.pdf p.2", "collection": "ops",
        "file": "/docs/facilities.pdf", "page": 2, "heading": None, "sha256": DOC_SHA}]
    log = app.audit.path.read_text()
    assert PASSAGE not in log, "the audit log never holds a passage's text"
    record = [json.loads(line) for line in log.splitlines()][-1]
    assert record["event"] == "history.exported"
    assert record["detail"]["sources"] == [{
        "message_id": a, "n": 1, "collection": "ops", "sha256": DOC_SHA,
        "passage_sha256": hashlib.sha256(PASSAGE.encode()).hexdigest()}]


def test_an_older_answer_with_copied_markers_is_shown_without_them(app: AppContext) -> None:
    assert app.history is not None
    cid, a = _grounded(app.history)
    view = view_conversation(app.history, cid)
    shown = view.messages[view.index_of(a) or 0]
    assert shown.message.text.strip() == "It is tested every second Tuesday [1]."
    assert shown.markers_removed == 2
    assert [s.label for s in shown.sources] == ["facilities.pdf p.2"]
    assert view.scope == ("ops",)
    # What the engine is given back as the conversation so far carries none either.
    assert all("SOURCE" not in m.content for m in app.chat.transcript(cid))


def test_a_regenerated_answer_says_where_the_later_turns_stayed(app: AppContext) -> None:
    from app.core.conversation_view import kept_note

    h = app.history
    assert h is not None
    cid = h.create_conversation("birds")
    q = h.add_message(cid, "user", "Name a bird.")
    old = h.add_message(cid, "assistant", "A kingfisher.", parent_id=q)
    follow = h.add_message(cid, "user", "Where does it live?", parent_id=old)
    h.add_message(cid, "assistant", "By rivers.", parent_id=follow)
    new = h.add_message(cid, "assistant", "A heron.", parent_id=q)
    assert kept_note(h, cid, new) == (
        "The 2 later messages stay with the earlier answer (version 1/2).")
    third = h.add_message(cid, "assistant", "A robin.", parent_id=q)
    assert kept_note(h, cid, third) == (
        "The 2 later messages stay with the earlier answer (version 1/3).")
    lone = h.create_conversation("lone")
    lq = h.add_message(lone, "user", "Hi.")
    h.add_message(lone, "assistant", "Hello.", parent_id=lq)
    again = h.add_message(lone, "assistant", "Hi there.", parent_id=lq)
    assert kept_note(h, lone, again) == ""

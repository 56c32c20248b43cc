"""Saved conversations in the real window: list, regenerate, edit-and-resend, search, export.

The history is real SQLCipher in passphrase mode (no keyring needed); answers come from the
real model, kept short so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.audit.export import read_records
from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.ui.main_window import MainWindow
from tests.ui.test_sidebar_groups import groups

pytestmark = pytest.mark.model


@pytest.fixture
def saved(model_paths: AppPaths, open_window: Any) -> MainWindow:
    """A saved session with the model loaded; answers are short."""
    w: MainWindow = open_window(model_paths, params=GenerationParams(max_tokens=12, seed=1),
                                wait_for_model=True)
    return w


def ask(qtbot: QtBot, w: MainWindow, text: str) -> object:
    with qtbot.waitSignal(w.answer_finished, timeout=60_000) as blocker:
        qtbot.keyClicks(w.composer, text)
        qtbot.keyClick(w.composer, Qt.Key.Key_Return)
    return blocker.args[0]


def test_answer_is_saved_and_listed_newest_first(qtbot: QtBot, saved: MainWindow) -> None:
    ask(qtbot, saved, "Name a colour.")
    first = saved.conversation_id
    saved.new_chat()
    ask(qtbot, saved, "Name a fruit.")
    qtbot.waitUntil(lambda: saved.sidebar.conversations.count() == 2, timeout=5000)
    titles = [saved.sidebar.conversations.item(i).text() for i in range(2)]
    assert titles == ["Name a fruit.", "Name a colour."]
    footer = saved.view.toPlainText()
    assert "LOCAL" in footer and "tokens/s" in footer and "first token" in footer
    assert first != saved.conversation_id


def test_regenerate_keeps_the_earlier_answer(qtbot: QtBot, saved: MainWindow) -> None:
    first = ask(qtbot, saved, "Say hello.")
    with qtbot.waitSignal(saved.answer_finished, timeout=60_000) as blocker:
        saved.regenerate_last()
    second = blocker.args[0]
    assert second.user_message_id == first.user_message_id
    assert second.assistant_message_id != first.assistant_message_id
    stored = saved.app.history.messages(first.conversation_id)
    answers = [m for m in stored if m.role == "assistant"]
    assert len(answers) == 2 and all(m.parent_id == first.user_message_id for m in answers)
    # The view shows one branch: the question once, the new answer.
    assert saved.view.toPlainText().count("Say hello.") == 1
    assert [m.role for m in saved.view.messages] == ["user", "assistant"]


def test_edit_and_resend_starts_a_branch(qtbot: QtBot, saved: MainWindow) -> None:
    one = ask(qtbot, saved, "First question.")
    two = ask(qtbot, saved, "Second question.")
    saved.edit_message(2)
    assert saved.composer.toPlainText() == "Second question."
    assert saved.edit_label.isVisible()
    saved.composer.clear()
    edited = ask(qtbot, saved, "Second question, edited.")
    assert edited.conversation_id == one.conversation_id
    stored = {m.id: m for m in saved.app.history.messages(one.conversation_id)}
    # Both versions hang off the first answer: the old branch is kept.
    assert stored[edited.user_message_id].parent_id == one.assistant_message_id
    assert stored[two.user_message_id].parent_id == one.assistant_message_id
    shown = saved.view.toPlainText()
    assert "Second question, edited." in shown and "Second question.\n" not in shown
    assert not saved.edit_label.isVisible()


def test_editing_the_first_message_branches_from_the_root(
    qtbot: QtBot, saved: MainWindow
) -> None:
    one = ask(qtbot, saved, "First question.")
    saved.edit_message(0)
    assert saved.composer.toPlainText() == "First question."
    saved.composer.clear()
    edited = ask(qtbot, saved, "First question, edited.")
    # The same conversation, a second first message: the old branch is kept beside it.
    assert edited.conversation_id == one.conversation_id == saved.conversation_id
    stored = {m.id: m for m in saved.app.history.messages(one.conversation_id)}
    assert stored[edited.user_message_id].parent_id is None
    assert stored[one.user_message_id].parent_id is None
    assert len(saved.app.history.list_conversations()) == 1
    assert [m.text for m in saved.view.messages][0] == "First question, edited."
    assert "First question.\n" not in saved.view.toPlainText()
    # Opening the old branch's question (a search hit) shows that branch again.
    with qtbot.waitSignal(saved.conversation_shown, timeout=5000):
        saved.open_conversation(one.conversation_id, one.user_message_id)
    assert [m.message_id for m in saved.view.messages] == [
        one.user_message_id, one.assistant_message_id]


def test_search_opens_the_conversation_at_the_hit(qtbot: QtBot, saved: MainWindow) -> None:
    history = saved.app.history
    other = history.create_conversation("Weather")
    history.add_message(other, "user", "Is it raining in Lisbon?")
    target = history.create_conversation("Birds")
    question = history.add_message(target, "user", "Tell me about the kingfisher.")
    history.add_message(target, "assistant", "The kingfisher dives for fish.",
                        parent_id=question)
    qtbot.keyClicks(saved.sidebar.search_box, "kingfisher")
    qtbot.waitUntil(lambda: saved.sidebar.results.count() >= 1, timeout=5000)
    assert saved.sidebar.results.isVisible() and not saved.sidebar.conversations.isVisible()
    item = saved.sidebar.results.item(0)
    label = saved.sidebar.results.itemWidget(item)
    assert "background-color:#ffe066" in label.text()  # the matched word is highlighted
    with qtbot.waitSignal(saved.conversation_shown, timeout=5000) as blocker:
        rect = saved.sidebar.results.visualItemRect(item)
        qtbot.mouseClick(saved.sidebar.results.viewport(), Qt.MouseButton.LeftButton,
                         pos=rect.center())
    assert blocker.args[0] == target
    assert saved.conversation_id == target
    assert "The kingfisher dives for fish." in saved.view.toPlainText()
    assert "Lisbon" not in saved.view.toPlainText()


def test_rename_pin_and_delete(qtbot: QtBot, saved: MainWindow) -> None:
    history = saved.app.history
    a = history.create_conversation("Alpha")
    b = history.create_conversation("Beta")
    saved.sidebar.pin_requested.emit(a, True)
    qtbot.waitUntil(lambda: saved.sidebar.conversations.count() == 2, timeout=5000)
    qtbot.waitUntil(lambda: groups(saved) == [("Pinned", [a]), ("Today", [b])],
                    timeout=5000)
    pinned = saved.sidebar.conversations.item(0)
    assert pinned.text() == "Alpha" and not pinned.icon().isNull()  # a pin icon, no star
    saved.rename_confirmed(b, "Beta renamed")
    qtbot.waitUntil(lambda: saved.sidebar.conversations.item(1).text() == "Beta renamed",
                    timeout=5000)
    saved.delete_confirmed(a)
    qtbot.waitUntil(lambda: saved.sidebar.conversations.count() == 1, timeout=5000)
    assert [c.id for c in history.list_conversations()] == [b]


def test_export_writes_the_file_and_an_audit_record(
    qtbot: QtBot, saved: MainWindow, tmp_path: Path
) -> None:
    cid = saved.app.history.create_conversation("Planets")
    saved.app.history.add_message(cid, "user", "Name a planet.")
    out = tmp_path / "chat.json"
    saved.menus.export_conversation(cid, "json", str(out))
    qtbot.waitUntil(out.exists, timeout=5000)
    qtbot.waitUntil(lambda: "Exported" in saved.notice.text(), timeout=5000)
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert "Name a planet." in json.dumps(exported)
    pdf = tmp_path / "chat.pdf"
    saved.menus.export_conversation(cid, "pdf", str(pdf))
    qtbot.waitUntil(lambda: pdf.exists() and pdf.stat().st_size > 0, timeout=5000)
    assert pdf.read_bytes().startswith(b"%PDF")
    events = [r for r in read_records(saved.app.audit.path) if r["event"] == "history.exported"]
    assert [r["detail"]["format"] for r in events] == ["json", "pdf"]


def test_closing_mid_answer_keeps_the_partial_answer(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any
) -> None:
    w = open_window(model_paths, params=GenerationParams(max_tokens=2000),
                    wait_for_model=True)
    ctx = w.app
    qtbot.keyClicks(w.composer, "Write a very long story about rivers.")
    qtbot.keyClick(w.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(w.view.answer_text()) > 20, timeout=20_000)
    w.close()
    assert not any(lane.active for lane in w.lanes())
    [conversation] = ctx.history.list_conversations()
    answer = [m for m in ctx.history.messages(conversation.id) if m.role == "assistant"][0]
    assert not answer.complete and len(answer.text) > 0

"""Each answer in the real window keeps its own sources and versions, and focus stays useful.

The window, the encrypted history, the document index, the embedding model and the chat model
are all real; answers are kept short. Links in the conversation are clicked with the mouse
where Qt drew them, as a user would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.context import AppContext, open_app
from app.core.conversation_view import view_conversation
from app.core.docs import ingest
from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.core.store.records import StoredSource
from app.ui.chat_view import ChatView, shown_from_view
from app.ui.main_window import MainWindow
from tests.ui.conftest import PASSPHRASE

pytestmark = pytest.mark.model

GENERATOR = "The emergency generator in building 7 is tested every second Tuesday at 06:00."
PARKING = "Visitors park in lot C near the main gate and sign in at reception."


# --- helpers --------------------------------------------------------------------------------

def link_point(view: ChatView, href: str, nth: int = 0) -> QPoint:
    """Where the ``nth`` link to ``href`` is drawn, in viewport coordinates (scrolled to)."""
    doc = view.document()
    found = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.isValid() and fragment.charFormat().anchorHref() == href:
                found.append((fragment.position(), fragment.position() + fragment.length()))
            it += 1
        block = block.next()
    assert -len(found) <= nth < len(found), f"no link {href!r} (#{nth}) in the conversation"
    start, end = QTextCursor(doc), QTextCursor(doc)
    start.setPosition(found[nth][0])
    end.setPosition(found[nth][1])
    view.setTextCursor(end)
    view.ensureCursorVisible()
    left, right = view.cursorRect(start), view.cursorRect(end)
    return QPoint((left.x() + right.x()) // 2, left.center().y())  # the middle of the text


def click_link(view: ChatView, href: str, nth: int = 0) -> None:
    """Click a link of the conversation with the mouse."""
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, link_point(view, href, nth))


def ask(qtbot: QtBot, w: MainWindow, text: str) -> Any:
    with qtbot.waitSignal(w.answer_finished, timeout=60_000) as blocker:
        QTest.keyClicks(w.composer, text)
        QTest.keyClick(w.composer, Qt.Key.Key_Return)
    return blocker.args[0]


def focus_is_in_composer(w: MainWindow) -> bool:
    return QApplication.focusWidget() is w.composer


@pytest.fixture
def saved(model_paths: AppPaths, open_window: Any) -> MainWindow:
    """A saved session with the model loaded; answers are short."""
    w: MainWindow = open_window(model_paths, params=GenerationParams(max_tokens=12, seed=1),
                                wait_for_model=True)
    w.activateWindow()
    return w


@pytest.fixture
def grounded(qtbot: QtBot, docs_paths: AppPaths, tmp_path: Path) -> Iterator[MainWindow]:
    """A window with a real "facilities" collection (two notes) attached; answers are short."""
    folder = tmp_path / "facilities"
    folder.mkdir()
    (folder / "generator.txt").write_text(f"Facilities notes.\n\n{GENERATOR}\n")
    (folder / "parking.txt").write_text(f"Visitor rules.\n\n{PARKING}\n")
    ctx: AppContext = open_app(docs_paths, passphrase=PASSPHRASE)
    ctx.chat.params = GenerationParams(max_tokens=8, seed=1)
    documents = ctx.chat.documents
    assert documents is not None
    report = ingest(documents.index(), documents.embedder(), [folder], "facilities")
    assert len(report.having("indexed")) == 2
    w = MainWindow(ctx)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.engine_info is not None, timeout=30_000)
        w.turns.attach_documents(["facilities"], False)
        yield w
    finally:
        w.close()
        ctx.close()


# --- 1. sources under each answer -----------------------------------------------------------

def test_each_answer_keeps_its_own_sources(qtbot: QtBot, grounded: MainWindow) -> None:
    w = grounded
    assert not hasattr(w, "sources_bar")  # no single bar above the composer any more
    first = ask(qtbot, w, "When is the emergency generator in building 7 tested?")
    assert first.sources and Path(first.sources[0].file).name == "generator.txt"
    shown = w.view.messages[1]
    assert [s.n for s in shown.sources] == [s.n for s in first.sources]
    assert "Sources: [1] generator.txt" in w.view.toPlainText()

    with qtbot.waitSignal(w.view.passage_opened, timeout=5000) as opened:
        click_link(w.view, "enclave-source:1:1")
    dialog = opened.args[0]
    assert dialog.isVisible() and GENERATOR in dialog.passage.toPlainText()
    dialog.close()

    second = ask(qtbot, w, "Where do visitors park?")
    assert second.sources and Path(second.sources[0].file).name == "parking.txt"
    # The earlier answer still lists its own sources under it; the new one lists its own.
    assert w.view.toPlainText().count("Sources: [1]") == 2
    assert [s.n for s in w.view.messages[1].sources] == [s.n for s in first.sources]
    with qtbot.waitSignal(w.view.passage_opened, timeout=5000) as opened:
        click_link(w.view, "enclave-source:1:1")
    assert GENERATOR in opened.args[0].passage.toPlainText()
    with qtbot.waitSignal(w.view.passage_opened, timeout=5000) as opened:
        click_link(w.view, "enclave-source:3:1")
    assert PARKING in opened.args[0].passage.toPlainText()
    opened.args[0].close()

    # A new chat shows nothing of them.
    w.new_chat()
    assert "Sources:" not in w.view.toPlainText()


def test_sources_whose_documents_changed_or_went_say_so(
    qtbot: QtBot, grounded: MainWindow, tmp_path: Path,
) -> None:
    w = grounded
    asked = ask(qtbot, w, "When is the emergency generator in building 7 tested?")
    cited = {Path(s.file).name: s.n for s in asked.sources}
    assert "generator.txt" in cited
    # Since then, the generator note was rewritten and the parking note deleted.
    folder = tmp_path / "facilities"
    (folder / "generator.txt").write_text("Facilities notes.\n\nThe generator was sold.\n")
    (folder / "parking.txt").unlink()
    documents = w.app.chat.documents
    assert documents is not None
    ingest(documents.index(), documents.embedder(), [folder], "facilities")

    w.new_chat()
    view = view_conversation(w.app.history, asked.conversation_id)
    w.turns.show_conversation(view)
    n = cited["generator.txt"]
    qtbot.waitUntil(lambda: f"[{n}] generator.txt (changed since)" in w.view.toPlainText(),
                    timeout=30_000)
    if "parking.txt" in cited:
        assert f"[{cited['parking.txt']}] parking.txt (removed)" in w.view.toPlainText()
    # The passage shown is the one the answer was grounded on, and it says the file changed.
    with qtbot.waitSignal(w.view.passage_opened, timeout=5000) as opened:
        click_link(w.view, f"enclave-source:1:{n}", nth=-1)
    dialog = opened.args[0]
    assert GENERATOR in dialog.passage.toPlainText()
    assert "changed since" in dialog.where.text()
    dialog.close()


def test_reopened_answers_show_their_sources_and_in_text_citations(
    qtbot: QtBot, model_paths: AppPaths, with_policy: Any, open_window: Any,
) -> None:
    # Documents are off here: what the cited files became cannot be told, so none is noted.
    w: MainWindow = open_window(with_policy(model_paths, {"documents": {"enabled": False}}))
    history = w.app.history
    cid = history.create_conversation("Facilities")
    question = history.add_message(cid, "user", "When is the generator tested?")
    answer = history.add_message(
        cid, "assistant", "It is tested on the second Tuesday [1]; see also [2] and `[1]`.",
        parent_id=question)
    history.save_sources(answer, [
        StoredSource(answer, 1, "facilities", "/srv/notes/generator.txt", None, None, 0,
                     len(GENERATOR), "a" * 64, GENERATOR),
        StoredSource(answer, 2, "facilities", "/srv/notes/report.pdf", 4, None, 0,
                     len(PARKING), "b" * 64, PARKING),
    ])
    w.turns.show_conversation(view_conversation(history, cid))
    assert "Sources: [1] generator.txt · [2] report.pdf p.4\n" in w.view.toPlainText()
    # [1] in the answer's own text opens the same passage as the line under it; the `[1]` in
    # code is not a link.
    with qtbot.waitSignal(w.view.passage_opened, timeout=5000) as opened:
        click_link(w.view, "enclave-source:1:1", nth=0)
    assert opened.args[0].passage.toPlainText() == GENERATOR
    with qtbot.waitSignal(w.view.passage_opened, timeout=5000) as opened:
        click_link(w.view, "enclave-source:1:2", nth=0)
    assert opened.args[0].passage.toPlainText() == PARKING
    assert "changed" not in opened.args[0].where.text()
    opened.args[0].close()
    in_text = link_point(w.view, "enclave-source:1:1", nth=0)
    in_line = link_point(w.view, "enclave-source:1:1", nth=1)
    assert in_text.y() < in_line.y()  # one link in the answer, one in the line under it
    with pytest.raises(AssertionError):
        link_point(w.view, "enclave-source:1:1", nth=2)  # not the `[1]` in code


# --- 2. versions ----------------------------------------------------------------------------

def test_regenerating_an_early_answer_keeps_the_later_turns_on_their_branch(
    qtbot: QtBot, saved: MainWindow,
) -> None:
    w = saved
    one = ask(qtbot, w, "Name a colour.")
    two = ask(qtbot, w, "Name a fruit.")
    assert "‹" not in w.view.toPlainText()
    with qtbot.waitSignal(w.answer_finished, timeout=60_000) as blocker:
        click_link(w.view, "enclave-action:regenerate:1")
    again = blocker.args[0]
    assert [m.message_id for m in w.view.messages] == [
        one.user_message_id, again.assistant_message_id]
    assert w.view.messages[1].versions is not None
    assert w.view.messages[1].versions.label() == "‹ 2/2 ›"
    assert "‹ 2/2 ›" in w.view.toPlainText()
    assert w.notice.isVisible() and "2 later" in w.notice.text()
    assert focus_is_in_composer(w)

    # ‹ asks for the branch through the earlier answer, where the later turns still are; the
    # window opens it.
    with (qtbot.waitSignal(w.conversation_shown, timeout=10_000),
          qtbot.waitSignal(w.turns.open_requested, timeout=5000) as asked):
        click_link(w.view, "enclave-action:previous:1")
    assert asked.args == [one.conversation_id, one.assistant_message_id]
    assert [m.message_id for m in w.view.messages] == [
        one.user_message_id, one.assistant_message_id, two.user_message_id,
        two.assistant_message_id]
    assert "‹ 1/2 ›" in w.view.toPlainText()
    with qtbot.waitSignal(w.turns.open_requested, timeout=5000) as asked:
        click_link(w.view, "enclave-action:next:1")
    assert asked.args == [one.conversation_id, again.assistant_message_id]


def test_an_edited_message_shows_its_versions(qtbot: QtBot, saved: MainWindow) -> None:
    one = ask(qtbot, saved, "Name a colour.")
    saved.edit_message(0)
    saved.composer.clear()
    edited = ask(qtbot, saved, "Name a bird.")
    assert edited.conversation_id == one.conversation_id
    assert saved.view.messages[0].versions is not None
    assert saved.view.messages[0].versions.label() == "‹ 2/2 ›"
    assert "‹ 2/2 ›" in saved.view.toPlainText()
    with qtbot.waitSignal(saved.turns.open_requested, timeout=5000) as asked:
        saved.turns.show_version(0, -1)
    assert asked.args == [one.conversation_id, one.user_message_id]


# --- 3. and 4. showing a conversation; which conversation is on screen ----------------------

def test_show_conversation_draws_the_view_scrolls_and_says_which(
    qtbot: QtBot, saved: MainWindow,
) -> None:
    history = saved.app.history
    cid = history.create_conversation("Long")
    parent = None
    ids = []
    for i in range(30):
        parent = history.add_message(cid, "user" if i % 2 == 0 else "assistant",
                                     f"Message number {i} " + "words " * 30, parent_id=parent)
        ids.append(parent)
    saved.view.setFocus()
    view = view_conversation(history, cid)
    assert [m.message_id for m in shown_from_view(view)] == ids
    with qtbot.waitSignal(saved.turns.conversation_changed, timeout=5000) as changed:
        saved.turns.show_conversation(view, ids[2])
    assert changed.args == [cid]
    assert saved.conversation_id == cid
    assert [m.message_id for m in saved.view.messages] == ids
    bar = saved.view.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() < bar.maximum()  # at message 2, not the end
    assert focus_is_in_composer(saved)

    with qtbot.waitSignal(saved.turns.conversation_changed, timeout=5000) as changed:
        saved.new_chat()
    assert changed.args == [None]
    with qtbot.waitSignal(saved.turns.conversation_changed, timeout=60_000) as changed:
        QTest.keyClicks(saved.composer, "Name a colour.")
        QTest.keyClick(saved.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not saved.busy, timeout=60_000)
    assert changed.args == [saved.conversation_id] and saved.conversation_id not in (None, cid)


# --- 5. highlighting a search hit's words ---------------------------------------------------

def test_highlight_marks_the_words_until_the_next_conversation(saved: MainWindow) -> None:
    history = saved.app.history
    cid = history.create_conversation("Birds")
    question = history.add_message(cid, "user", "Tell me about the Kingfisher.")
    history.add_message(cid, "assistant", "The kingfisher dives for fish; kingfishers nest.",
                        parent_id=question)
    saved.turns.show_conversation(view_conversation(history, cid), question)
    saved.view.highlight(["kingfisher", "nest"])
    marked = [s.cursor.selectedText().lower() for s in saved.view.extraSelections()]
    assert marked.count("kingfisher") == 3 and marked.count("nest") == 1
    colours = {s.format.background().color().name() for s in saved.view.extraSelections()}
    assert colours == {"#ffe066"}  # with dark text: readable in both themes
    saved.view.set_messages(saved.view.messages)
    assert saved.view.extraSelections() == []
    saved.view.highlight(["kingfisher"])
    saved.view.clear_messages()
    assert saved.view.extraSelections() == []


# --- 6. focus returns to the composer -------------------------------------------------------

def test_focus_returns_to_the_composer(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(model_paths, params=GenerationParams(max_tokens=12, seed=1),
                                wait_for_model=True)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    ask(qtbot, w, "Name a colour.")
    assert focus_is_in_composer(w)  # after send

    w.view.setFocus()
    with qtbot.waitSignal(w.answer_finished, timeout=60_000):
        click_link(w.view, "enclave-action:regenerate:1")
        assert focus_is_in_composer(w)  # after regenerate, while it answers

    w.view.setFocus()
    QTest.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert not w.view.messages and focus_is_in_composer(w)  # after Ctrl+N

    w.app.chat.params = GenerationParams(max_tokens=400, seed=1)
    QTest.keyClicks(w.composer, "Write a long story about rivers.")
    QTest.keyClick(w.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(w.view.answer_text()) > 5, timeout=30_000)
    with qtbot.waitSignal(w.answer_finished, timeout=60_000):
        QTest.mouseClick(w.stop_button, Qt.MouseButton.LeftButton)
    assert focus_is_in_composer(w)  # after stop

    w.view.setFocus()
    cid = w.conversation_id
    assert cid is not None
    with qtbot.waitSignal(w.conversation_shown, timeout=10_000):
        w.open_conversation(cid)
    assert focus_is_in_composer(w)  # after opening a conversation

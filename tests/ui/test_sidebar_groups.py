"""The conversation list as the peers show it, in the real window on a real encrypted history.

Conversations sit under Pinned, Today, Yesterday, Previous 7 days, … Older by their last
activity; the headings are drawn, never selected or landed on; titles are renamed in place
(F2, the menu), pinned with Ctrl+Shift+P and deleted with the Delete key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAccessible
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox
from pytestqt.qtbot import QtBot

from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.ui.main_window import MainWindow
from app.ui.sidebar import HEADER_ROLE, ID_ROLE, header_height

DAY = 24 * 3600


def local_midnight() -> float:
    """Today's first second on this machine's clock."""
    return datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def add(history: Any, monkeypatch: pytest.MonkeyPatch, title: str, when: float) -> int:
    """A conversation whose last activity (its one message) was at ``when``."""
    monkeypatch.setattr(history, "_clock", lambda: when)
    cid = int(history.create_conversation(title))
    history.add_message(cid, "user", f"About {title}.")
    monkeypatch.setattr(history, "_clock", time.time)
    return cid


@pytest.fixture
def dated(app_paths: AppPaths, open_window: Callable[..., MainWindow],
          monkeypatch: pytest.MonkeyPatch, qtbot: QtBot) -> tuple[MainWindow, dict[str, int]]:
    """A window listing one conversation per heading, and one pinned old one."""
    w = open_window(app_paths)
    history = w.app.history
    now = time.time()
    ids = {
        "old pinned": add(history, monkeypatch, "Old pinned", now - 400 * DAY),
        "ancient": add(history, monkeypatch, "Ancient", now - 90 * DAY),
        "month": add(history, monkeypatch, "Last month", now - 15 * DAY),
        "week": add(history, monkeypatch, "This week", now - 3 * DAY),
        "yesterday": add(history, monkeypatch, "Yesterday's", local_midnight() - 3600),
        "today": add(history, monkeypatch, "Today's", now),
    }
    history.pin(ids["old pinned"], True)
    w.refresh_conversations()
    qtbot.waitUntil(lambda: w.sidebar.conversations.count() == len(ids), timeout=5000)
    return w, ids


def groups(w: MainWindow) -> list[tuple[str, list[int]]]:
    """The headings as the list draws them, each with its conversations' ids in order."""
    shown: list[tuple[str, list[int]]] = []
    items = w.sidebar.conversations
    for row in range(items.count()):
        item = items.item(row)
        if item.data(HEADER_ROLE):
            shown.append((str(item.data(HEADER_ROLE)), []))
        shown[-1][1].append(int(item.data(ID_ROLE)))
    return shown


def current_id(w: MainWindow) -> int:
    return int(w.sidebar.conversations.currentItem().data(ID_ROLE))


def row_of(w: MainWindow, cid: int) -> int:
    items = w.sidebar.conversations
    return next(r for r in range(items.count()) if items.item(r).data(ID_ROLE) == cid)


def test_conversations_are_listed_under_their_last_activity_pinned_first(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, dated: tuple[MainWindow, dict[str, int]],
) -> None:
    w, ids = dated
    later = add(w.app.history, monkeypatch, "Later today", time.time() + 1)
    w.refresh_conversations()
    qtbot.waitUntil(lambda: w.sidebar.conversations.count() == len(ids) + 1, timeout=5000)
    assert groups(w) == [
        ("Pinned", [ids["old pinned"]]), ("Today", [later, ids["today"]]),
        ("Yesterday", [ids["yesterday"]]), ("Previous 7 days", [ids["week"]]),
        ("Previous 30 days", [ids["month"]]), ("Older", [ids["ancient"]]),
    ]
    items = w.sidebar.conversations
    pinned = items.item(row_of(w, ids["old pinned"]))
    # A pin icon, not a star in the title; the title stays the title.
    assert pinned.text() == "Old pinned" and not pinned.icon().isNull()
    assert items.item(row_of(w, ids["week"])).icon().isNull()
    # A heading takes room above the first row of its group (it is drawn, not a row).
    first, second = (items.visualItemRect(items.item(row_of(w, c))) for c in (later, ids["today"]))
    assert first.height() == second.height() + header_height(items.fontMetrics())
    # Screen readers hear each row's title and group.
    cell = QAccessible.queryAccessibleInterface(items).child(row_of(w, ids["week"]))
    assert cell.text(QAccessible.Text.Name) == "This week (Previous 7 days)"
    assert w.sidebar.menu_for(pinned).actions()[1].text() == "Unpin"


def test_headings_are_skipped_by_the_keyboard_and_clicks_on_them_open_nothing(
    qtbot: QtBot, dated: tuple[MainWindow, dict[str, int]],
) -> None:
    w, ids = dated
    items = w.sidebar.conversations
    order = [ids[k] for k in ("old pinned", "today", "yesterday", "week", "month", "ancient")]
    w.sidebar.search_box.setFocus()
    QTest.keyClick(w.sidebar.search_box, Qt.Key.Key_Down)  # Down from the search enters
    assert QApplication.focusWidget() is items and current_id(w) == order[0]
    seen = [current_id(w)]
    for _ in order[1:]:
        QTest.keyClick(items, Qt.Key.Key_Down)
        seen.append(current_id(w))
    assert seen == order  # every Down lands on a conversation, never on a heading
    QTest.keyClick(items, Qt.Key.Key_Home)
    assert current_id(w) == order[0]
    QTest.keyClick(items, Qt.Key.Key_End)
    assert current_id(w) == order[-1]
    QTest.keyClick(items, Qt.Key.Key_PageUp)
    assert current_id(w) == order[0]
    QTest.keyClick(items, Qt.Key.Key_PageDown)
    assert current_id(w) == order[-1]
    QTest.keyClick(items, Qt.Key.Key_Up)
    with qtbot.waitSignal(w.conversation_shown, timeout=5000) as shown:
        QTest.keyClick(items, Qt.Key.Key_Return)  # Enter opens
    assert shown.args[0] == ids["month"] == w.conversation_id
    # A click on the "Yesterday" heading opens nothing and moves no mark.
    rect = items.visualItemRect(items.item(row_of(w, ids["yesterday"])))
    on_heading = QPoint(rect.center().x(), rect.top() + header_height(items.fontMetrics()) // 2)
    with qtbot.assertNotEmitted(w.conversation_shown, wait=500):
        QTest.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=on_heading)
    assert [int(i.data(ID_ROLE)) for i in items.selectedItems()] == [ids["month"]]
    # A click on the row below its heading opens it.
    with qtbot.waitSignal(w.conversation_shown, timeout=5000) as shown:
        QTest.mouseClick(items.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(rect.center().x(), rect.bottom() - 4))
    assert shown.args[0] == ids["yesterday"]


def edit_title(qtbot: QtBot, w: MainWindow, cid: int) -> QLineEdit:
    items = w.sidebar.conversations
    items.setFocus()
    items.setCurrentRow(row_of(w, cid))
    QTest.keyClick(items, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit), timeout=2000)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor is not w.sidebar.search_box
    return editor


def test_f2_renames_in_place_enter_saves_esc_cancels(
    qtbot: QtBot, app_paths: AppPaths, open_window: Callable[..., MainWindow],
    dated: tuple[MainWindow, dict[str, int]],
) -> None:
    w, ids = dated
    history, items, cid = w.app.history, w.sidebar.conversations, ids["week"]
    editor = edit_title(qtbot, w, cid)
    assert editor.text() == "This week" and editor.selectedText() == "This week"
    QTest.keyClicks(editor, "Kingfisher")
    editor.insert("\u200b")  # pasted with the text: the core drops it
    QTest.keyClicks(editor, "  notes")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: items.item(row_of(w, cid)).text() == "Kingfisher notes",
                    timeout=5000)
    assert history.conversation(cid).title == "Kingfisher notes"  # cleaned by the core
    assert QApplication.focusWidget() is items  # back on the list
    # Renaming keeps it in its group (last activity is not a rename).
    assert ("Previous 7 days", [cid]) in groups(w)

    editor = edit_title(qtbot, w, cid)
    QTest.keyClicks(editor, "Discard me")
    QTest.keyClick(editor, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is items and w.isVisible()  # Esc closed only the box
    qtbot.wait(200)
    assert items.item(row_of(w, cid)).text() == "Kingfisher notes"
    assert history.conversation(cid).title == "Kingfisher notes"

    # An empty title is refused, saying why; the old one stays.
    editor = edit_title(qtbot, w, cid)
    editor.setText("  \u200b ")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "needs a title" in w.banner.text(), timeout=5000)
    assert history.conversation(cid).title == "Kingfisher notes"

    # Reopened, the window lists the saved title.
    w.close()
    again = open_window(app_paths)
    qtbot.waitUntil(lambda: again.sidebar.conversations.count() == len(ids), timeout=5000)
    titles = [again.sidebar.conversations.item(r).text()
              for r in range(again.sidebar.conversations.count())]
    assert "Kingfisher notes" in titles and "This week" not in titles


def test_menu_rename_pin_shortcut_and_delete_key(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, dated: tuple[MainWindow, dict[str, int]],
) -> None:
    w, ids = dated
    history, items = w.app.history, w.sidebar.conversations
    # The menu's Rename edits in place too.
    menu = w.sidebar.menu_for(items.item(row_of(w, ids["month"])))
    [rename] = [a for a in menu.actions() if a.text() == "Rename"]
    rename.trigger()
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == "Last month"
    QTest.keyClick(editor, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is items
    # Ctrl+Shift+P pins the conversation under the cursor, and again unpins it.
    items.setCurrentRow(row_of(w, ids["ancient"]))
    QTest.keyClick(items, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: groups(w)[0] == ("Pinned", [ids["old pinned"],
                                                                   ids["ancient"]])
                    or groups(w)[0] == ("Pinned", [ids["ancient"],
                                                              ids["old pinned"]]),
                    timeout=5000)
    assert history.conversation(ids["ancient"]).pinned
    assert not items.item(row_of(w, ids["ancient"])).icon().isNull()
    items.setFocus()
    items.setCurrentRow(row_of(w, ids["ancient"]))
    QTest.keyClick(items, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: ("Older", [ids["ancient"]]) in groups(w), timeout=5000)
    # Delete asks first; confirmed, the conversation is gone.
    asked: list[str] = []

    def confirm(_parent: Any, _title: str, text: str, *_: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", confirm)
    items.setFocus()
    items.setCurrentRow(row_of(w, ids["week"]))
    QTest.keyClick(items, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: items.count() == len(ids) - 1, timeout=5000)
    assert asked and "This week" in asked[0]
    assert ids["week"] not in {c.id for c in history.list_conversations()}


@pytest.mark.model
def test_a_new_conversation_is_under_today_while_its_answer_streams(
    qtbot: QtBot, model_paths: AppPaths, open_window: Callable[..., MainWindow],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = open_window(model_paths, params=GenerationParams(max_tokens=400, seed=1),
                    wait_for_model=True)
    history = w.app.history
    older = add(history, monkeypatch, "Earlier today", time.time() - 60)
    week = add(history, monkeypatch, "Days ago", time.time() - 3 * DAY)
    w.refresh_conversations()
    qtbot.waitUntil(lambda: w.sidebar.conversations.count() == 2, timeout=5000)
    QTest.keyClicks(w.composer, "Write a long story about a kingfisher.")
    QTest.keyClick(w.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(w.view.answer_text()) > 0, timeout=30_000)
    qtbot.waitUntil(lambda: len(groups(w)[0][1]) == 2, timeout=5000)
    [new] = {c.id for c in history.list_conversations()} - {older, week}
    assert w.turns.answering  # still streaming: listed before the answer ends
    assert groups(w) == [("Today", [new, older]), ("Previous 7 days", [week])]
    assert w.sidebar.conversations.item(0).text() == "Write a long story about a kingfisher."
    with qtbot.waitSignal(w.answer_finished, timeout=60_000):
        w.turns.escape()  # stop; the partial answer is kept
    # Once it ends it is the conversation on screen, marked, still at the top of Today.
    qtbot.waitUntil(lambda: [int(i.data(ID_ROLE)) for i in
                             w.sidebar.conversations.selectedItems()] == [new], timeout=5000)
    assert groups(w)[0] == ("Today", [new, older])

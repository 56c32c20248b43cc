"""What the real window tells the truth about: the sidebar, secondary windows, notices.

The window, the encrypted history and (where a turn is involved) the chat model are real;
answers are kept short.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QFileDialog, QLabel, QWidget
from pytestqt.qtbot import QtBot

from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.ui.dialogs import PolicyDialog, SettingsDialog
from app.ui.main_window import MainWindow
from app.ui.sidebar import ID_ROLE

DEVELOPER_COMMAND = re.compile(r"make run|make test|`make|\.venv|pip install")


def activate(qtbot: QtBot, window: Any) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)


def ask(qtbot: QtBot, w: MainWindow, text: str) -> Any:
    with qtbot.waitSignal(w.answer_finished, timeout=60_000) as blocker:
        QTest.keyClicks(w.composer, text)
        QTest.keyClick(w.composer, Qt.Key.Key_Return)
    return blocker.args[0]


def marked(w: MainWindow) -> list[int]:
    return [int(i.data(ID_ROLE)) for i in w.sidebar.conversations.selectedItems()]


def listed(w: MainWindow) -> list[int]:
    items = w.sidebar.conversations
    return [int(items.item(i).data(ID_ROLE)) for i in range(items.count())]


@pytest.fixture
def documents_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of the test's own with a Documents folder (file pickers should open there)."""
    home = tmp_path / "user"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home / "Documents"


def highlighted(w: MainWindow) -> list[str]:
    return [s.cursor.selectedText().lower() for s in w.view.extraSelections()]


@pytest.mark.model
def test_the_sidebar_marks_the_conversation_on_screen_and_searches_by_keyboard(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(model_paths, params=GenerationParams(max_tokens=12, seed=1),
                                wait_for_model=True)
    history = w.app.history
    for title, question, answer in (
        ("Birds", "Tell me about the kingfisher.", "The kingfisher dives for fish."),
        ("Rivers", "Which birds live by rivers?", "A kingfisher, often."),
        ("Weather", "Is it raining in Lisbon?", "Not today."),
    ):
        cid = history.create_conversation(title)
        history.add_message(cid, "assistant", answer,
                            parent_id=history.add_message(cid, "user", question))
    w.refresh_conversations()
    qtbot.waitUntil(lambda: w.sidebar.conversations.count() == 3, timeout=5000)
    activate(qtbot, w)
    box = w.sidebar.search_box

    # Ctrl+F, type, Down into the results, Down to the next hit, Enter opens it.
    QTest.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is box
    QTest.keyClicks(box, "kingfisher")
    qtbot.waitUntil(lambda: w.sidebar.results.count() >= 2, timeout=5000)
    QTest.keyClick(box, Qt.Key.Key_Down)
    results = w.sidebar.results
    assert QApplication.focusWidget() is results and results.currentRow() == 0
    QTest.keyClick(results, Qt.Key.Key_Down)
    assert results.currentRow() == 1
    second = int(results.item(1).data(ID_ROLE))
    with qtbot.waitSignal(w.conversation_shown, timeout=5000) as shown:
        QTest.keyClick(results, Qt.Key.Key_Return)
    assert shown.args[0] == second == w.conversation_id
    # The words the search matched are marked in the opened conversation.
    qtbot.waitUntil(lambda: "kingfisher" in highlighted(w), timeout=5000)

    # Esc in the search box clears the search; the list marks the conversation on screen.
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_Escape)
    assert box.text() == ""
    assert w.sidebar.conversations.isVisible() and not w.sidebar.results.isVisible()
    assert marked(w) == [second]

    # Ctrl+N: nothing in the list is the conversation on screen.
    QTest.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert w.conversation_id is None and marked(w) == []

    # A turn while a search is shown: the new conversation is listed, and marked.
    QTest.keyClicks(box, "Lisbon")
    qtbot.waitUntil(lambda: w.sidebar.results.count() == 1, timeout=5000)
    new = ask(qtbot, w, "Name a colour.").conversation_id
    qtbot.waitUntil(lambda: new in listed(w), timeout=5000)
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_Escape)
    assert w.sidebar.conversations.isVisible() and marked(w) == [new]


def _close_button(window: QWidget) -> QAbstractButton:
    buttons = [b for b in window.findChildren(QAbstractButton)
               if b.isVisible() and "Close" in (b.accessibleName(), b.text().replace("&", ""))]
    assert len(buttons) == 1, f"{window.windowTitle()}: no single Close button"
    return buttons[0]


def test_every_secondary_window_closes_with_close_escape_and_ctrl_w(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(app_paths)

    def documents() -> QWidget:
        w.documents.open()
        return w.documents

    def usage() -> QWidget:
        w.menus.open_usage()
        assert w.menus.usage is not None
        return w.menus.usage

    def shown(dialog: QWidget) -> QWidget:
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    openers = {
        "Documents": documents,
        "Usage": usage,
        "Settings": lambda: shown(SettingsDialog(w.app, w)),
        "Policy": lambda: shown(PolicyDialog(w.app.policy, w)),
        "About": lambda: shown(w.menus.about_box()),
    }
    for name, make in openers.items():
        for how in ("button", "escape", "ctrl+w"):
            window = make()
            qtbot.waitUntil(window.isVisible, timeout=5000)
            activate(qtbot, window)
            if how == "button":
                QTest.mouseClick(_close_button(window), Qt.MouseButton.LeftButton)
            elif how == "escape":
                QTest.keyClick(window, Qt.Key.Key_Escape)
            else:
                QTest.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
            qtbot.waitUntil(lambda win=window: not win.isVisible(), timeout=2000)
            assert not window.isVisible(), f"{name} did not close with {how}"
    qtbot.waitUntil(lambda: w.menus.usage is None or not w.menus.usage.busy, timeout=10_000)


def test_notices_time_out_and_errors_stay_until_dismissed(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any, tmp_path: Path,
) -> None:
    w: MainWindow = open_window(app_paths)  # no model: the error banner says so
    qtbot.waitUntil(lambda: w.banner.isVisible() and not w.loading, timeout=30_000)
    timer = w.notices.notice_timer
    assert 6000 <= timer.interval() <= 8000
    timer.setInterval(300)  # the same timer, shorter, so the test need not wait 7 s
    cid = w.app.history.create_conversation("Planets")
    w.app.history.add_message(cid, "user", "Name a planet.")
    w.menus.export_conversation(cid, "md", str(tmp_path / "chat.md"))
    qtbot.waitUntil(lambda: w.notice.isVisible() and "Exported to" in w.notice.text(),
                    timeout=5000)
    qtbot.waitUntil(lambda: not w.notice.isVisible(), timeout=3000)
    # The error stays past a notice's time, until the user dismisses it.
    assert w.banner.isVisible()
    dismiss = w.notices.dismiss_button
    assert dismiss.isVisible() and dismiss.accessibleName() == "Dismiss error"
    QTest.mouseClick(dismiss, Qt.MouseButton.LeftButton)
    assert not w.banner.isVisible()


def test_without_a_model_the_window_says_what_an_analyst_can_do(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(app_paths)
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.no_model_page and not w.loading,
                    timeout=30_000)
    texts = [label.text() for label in w.findChildren(QLabel) if label.isVisible()]
    texts += [widget.toolTip() for widget in w.findChildren(QWidget)]
    offending = [t for t in texts if DEVELOPER_COMMAND.search(t)]
    assert offending == []
    assert "Ask your IT team" in w.banner.text()
    assert "Ask your IT team" in w.no_model_page.details.text()

    # Send says why it does nothing: on the button, and when the user presses Enter.
    assert not w.send_button.isEnabled() and "No model" in w.send_button.toolTip()
    activate(qtbot, w)
    QTest.keyClicks(w.composer, "Hello?")
    QTest.keyClick(w.composer, Qt.Key.Key_Return)
    assert w.notice.isVisible() and "No model" in w.notice.text()
    assert w.composer.toPlainText() == "Hello?" and w.view.messages == []


def test_file_pickers_open_in_the_documents_folder(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any, documents_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def pick(*args: Any, **kwargs: Any) -> tuple[str, str]:
        asked.append(str(kwargs.get("dir", args[2] if len(args) > 2 else "")))
        return "", ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", pick)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", pick)
    w: MainWindow = open_window(app_paths)
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.no_model_page, timeout=30_000)
    QTest.mouseClick(w.no_model_page.choose_button, Qt.MouseButton.LeftButton)
    cid = w.app.history.create_conversation("Planets")
    w.menus.export_conversation(cid, "md")
    assert asked[0] == str(documents_folder)
    assert Path(asked[1]).parent == documents_folder

"""Collections belong to one conversation: chips beside the composer, the Documents panel.

Everything is real: the window, the encrypted history and document index (passphrase mode),
the embedding model and the chat model. Only the operating system's file pickers are replaced
(they cannot be driven offscreen), by fakes that return the test's files and remember the
folder they were asked to open in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog
from pytestqt.qtbot import QtBot

from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.ui.main_window import MainWindow

FACT = "The emergency generator in building 7 is tested every second Tuesday at 06:00."
QUESTION = "When is the emergency generator in building 7 tested?"


def expected_start_folder() -> str:
    """The user's documents folder, or home where there is none."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return docs if docs and Path(docs).is_dir() else str(Path.home())


def _folder_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("dir", args[2] if len(args) > 2 else ""))


@pytest.fixture
def documents_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of the test's own with a Documents folder (file pickers should open there)."""
    home = tmp_path / "user"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert expected_start_folder() == str(home / "Documents")
    return home / "Documents"


@pytest.fixture
def pickers(monkeypatch: pytest.MonkeyPatch, documents_folder: Path) -> dict[str, list[Any]]:
    """Fakes of the OS file pickers: ``files`` to return, and the ``folders`` they opened in."""
    state: dict[str, list[Any]] = {"files": [], "folders": []}

    def open_files(*args: Any, **kwargs: Any) -> tuple[list[str], str]:
        state["folders"].append(_folder_argument(args, kwargs))
        return list(state["files"]), ""

    def existing_directory(*args: Any, **kwargs: Any) -> str:
        state["folders"].append(_folder_argument(args, kwargs))
        return ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", open_files)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", existing_directory)
    return state


def ask(qtbot: QtBot, w: MainWindow, text: str) -> Any:
    with qtbot.waitSignal(w.answer_finished, timeout=60_000) as blocker:
        QTest.keyClicks(w.composer, text)
        QTest.keyClick(w.composer, Qt.Key.Key_Return)
    return blocker.args[0]


def activate(qtbot: QtBot, window: Any) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)


def chips(w: MainWindow) -> list[str]:
    return list(w.docs_bar.chips)


def open_and_wait(qtbot: QtBot, w: MainWindow, cid: int) -> None:
    with qtbot.waitSignal(w.conversation_shown, timeout=5000):
        w.open_conversation(cid)


@pytest.mark.model
def test_a_collection_answers_only_in_the_conversation_it_belongs_to(
    qtbot: QtBot, docs_paths: AppPaths, tmp_path: Path, pickers: dict[str, list[Any]],
    open_window: Any,
) -> None:
    note = tmp_path / "generator.txt"
    note.write_text(f"Facilities notes.\n\n{FACT}\n")
    pickers["files"].append(str(note))
    w: MainWindow = open_window(docs_paths, params=GenerationParams(max_tokens=12, seed=1),
                                wait_for_model=True)
    history = w.app.history
    panel = w.documents

    # "Add files…" works without typing a name, opens in the documents folder, and the new
    # collection is attached to the conversation that created it (a new one: pending).
    w.menus.documents_action.trigger()
    assert panel.target.currentText() == "My documents"
    with qtbot.waitSignal(panel.ingest_done, timeout=60_000):
        QTest.mouseClick(panel.add_files_button, Qt.MouseButton.LeftButton)
    assert pickers["folders"] == [expected_start_folder()]
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=10_000)
    assert panel.tree.topLevelItem(0).checkState(0) == Qt.CheckState.Checked
    assert chips(w) == ["My documents"]
    panel.close()

    # The first send takes the pending collection along; the conversation keeps it.
    activate(qtbot, w)
    a = ask(qtbot, w, QUESTION)
    assert a.sources and Path(a.sources[0].file).name == "generator.txt"
    assert history.scope(a.conversation_id) == ["My documents"]

    # Ctrl+N starts with no collection; a question there is not answered from A's.
    QTest.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert chips(w) == []
    assert panel.tree.topLevelItem(0).checkState(0) == Qt.CheckState.Unchecked
    b = ask(qtbot, w, QUESTION)
    assert b.conversation_id != a.conversation_id and not b.sources
    assert history.scope(b.conversation_id) == []

    # Switching conversations loads each one's own collections.
    open_and_wait(qtbot, w, a.conversation_id)
    qtbot.waitUntil(lambda: chips(w) == ["My documents"], timeout=5000)
    assert ask(qtbot, w, QUESTION).sources
    open_and_wait(qtbot, w, b.conversation_id)
    qtbot.waitUntil(lambda: chips(w) == [], timeout=5000)
    again = ask(qtbot, w, QUESTION)
    assert again.conversation_id == b.conversation_id and not again.sources

    # Removing the chip (from the keyboard) detaches it from A only, and A stays detached.
    open_and_wait(qtbot, w, a.conversation_id)
    qtbot.waitUntil(lambda: chips(w) == ["My documents"], timeout=5000)
    button = w.docs_bar.chips["My documents"].remove_button
    assert button.accessibleName() == "Remove My documents from this conversation"
    button.setFocus()
    QTest.keyClick(button, Qt.Key.Key_Space)
    assert chips(w) == []
    qtbot.waitUntil(lambda: history.scope(a.conversation_id) == [], timeout=5000)
    open_and_wait(qtbot, w, b.conversation_id)
    open_and_wait(qtbot, w, a.conversation_id)
    qtbot.waitUntil(lambda: not w.history_lane.active, timeout=5000)
    assert chips(w) == []


def test_chips_are_named_keyboard_reachable_and_pending_for_a_new_conversation(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(app_paths)
    w.documents.set_attached("hr", True)  # ticked for the new, unsaved conversation
    assert chips(w) == ["hr"] and w.turns.jobs.collections == ["hr"]
    chip = w.docs_bar.chips["hr"]
    assert chip.accessibleName() == "Collection hr"
    button = chip.remove_button
    assert button.accessibleName() == "Remove hr from this conversation"
    assert button.focusPolicy() & Qt.FocusPolicy.TabFocus
    button.setFocus()
    QTest.keyClick(button, Qt.Key.Key_Space)
    assert chips(w) == [] and w.turns.jobs.collections == []

    w.documents.set_attached("hr", True)
    activate(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert chips(w) == [] and w.turns.jobs.collections == []


def test_the_documents_panel_names_the_collection_and_opens_in_the_documents_folder(
    qtbot: QtBot, app_paths: AppPaths, pickers: dict[str, list[Any]], open_window: Any,
) -> None:
    w: MainWindow = open_window(app_paths)
    panel = w.documents
    panel.open()
    assert "this conversation" in panel.intro.text()
    assert panel.target.currentText() == "My documents"
    QTest.mouseClick(panel.add_folder_button, Qt.MouseButton.LeftButton)
    assert pickers["folders"] == [expected_start_folder()]

    # A missing name is an error until a name is typed.
    panel.target.setEditText("")
    QTest.mouseClick(panel.add_files_button, Qt.MouseButton.LeftButton)
    assert panel.error.isVisible() and "Name the collection" in panel.error.text()
    QTest.keyClicks(panel.target.lineEdit(), "hr")
    assert not panel.error.isVisible()

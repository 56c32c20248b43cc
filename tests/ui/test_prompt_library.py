"""The Prompt library window and the System prompt dialog, offscreen, on the real store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy, load_policy
from app.core.store import HistoryStore, open_history
from app.ui.prompt_library import PromptLibraryWindow, SystemPromptDialog
from tests.policies import policy_root

# Known noise: the offscreen platform says this for every top-level widget with a layout.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")

PASSPHRASE = "correct horse battery staple"
SITE = "You work for Example Ltd."
MANAGED = {"prompts": {"managed": [
    {"name": "Incident summary", "body": "Summarise the incident in five bullet points."},
    {"name": "House style", "body": "Answer in plain British English.", "kind": "system"},
], "system": SITE}}


@pytest.fixture
def store(app_paths: AppPaths) -> Iterator[HistoryStore]:
    with open_history(app_paths, passphrase=PASSPHRASE) as s:
        yield s


@pytest.fixture
def policy(tmp_path: Path) -> EffectivePolicy:
    return load_policy(policy_root(tmp_path, MANAGED))


@pytest.fixture
def library(qtbot: QtBot, store: HistoryStore,
            policy: EffectivePolicy) -> Iterator[Callable[..., PromptLibraryWindow]]:
    windows: list[PromptLibraryWindow] = []

    def make(conversation_id: int | None = None) -> PromptLibraryWindow:
        window = PromptLibraryWindow(store, policy, conversation_id)
        qtbot.addWidget(window)
        windows.append(window)
        with qtbot.waitSignal(window.listed, timeout=10_000):
            window.show()
        return window

    yield make
    for window in windows:
        window.close()  # waits for its lane: no store work outlives the test


def rows(window: PromptLibraryWindow) -> list[tuple[str, bool, str]]:
    """``(text, has a lock icon, tooltip)`` of each row, as the user sees them."""
    out = []
    for i in range(window.list.count()):
        item = window.list.item(i)
        out.append((item.text(), not item.icon().isNull(), item.toolTip()))
    return out


def select(window: PromptLibraryWindow, name: str) -> None:
    assert window.select(name), f"{name!r} is not listed"


def save(qtbot: QtBot, window: PromptLibraryWindow, editor: Any) -> None:
    with qtbot.waitSignal(window.listed, timeout=10_000):
        editor.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()


def test_managed_prompts_show_locked_above_ones_own(
    library: Callable[..., PromptLibraryWindow], store: HistoryStore
) -> None:
    store.add_prompt("My memo", "Turn these notes into a memo.")
    window = library()
    locked = "Managed by your organization"
    assert rows(window) == [("Incident summary", True, locked),
                            ("House style (system prompt)", True, locked),
                            ("My memo", False, "")]
    select(window, "Incident summary")
    assert window.preview.toPlainText() == "Summarise the incident in five bullet points."
    assert not window.edit_button.isEnabled() and not window.delete_button.isEnabled()
    assert window.delete_button.toolTip() == locked
    assert window.delete_selected() is None and window.edit_selected() is None
    select(window, "My memo")
    assert window.edit_button.isEnabled() and window.delete_button.isEnabled()
    window.search_edit.setText("MEMO")  # name or text, any case
    assert [r[0] for r in rows(window)] == ["My memo"]


def test_own_prompts_are_created_edited_and_deleted(
    qtbot: QtBot, library: Callable[..., PromptLibraryWindow], store: HistoryStore
) -> None:
    window = library()
    editor = window.new_prompt()
    editor.name_edit.setText("   ")
    editor.body_edit.setPlainText("Some text")
    editor.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    assert editor.isVisible() and "name is empty" in editor.error_label.text()
    editor.name_edit.setText("Incident SUMMARY")  # the organization's name: refused by the core
    editor.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: window.editor is not editor, timeout=10_000)
    again = window.editor  # opened again with what was typed, and why it was refused
    assert again is not None and again.isVisible()
    assert "organization provides" in again.error_label.text()
    assert (again.name_edit.text(), again.body_edit.toPlainText()) == (
        "Incident SUMMARY", "Some text")
    again.reject()
    assert store.saved_prompts() == []

    editor = window.new_prompt()
    editor.name_edit.setText("Weekly\u200b report")
    editor.body_edit.setPlainText("Draft the weekly report.\r\n")
    editor.kind_box.setCurrentIndex(editor.kind_box.findData("system"))
    save(qtbot, window, editor)
    assert [(p.name, p.body, p.kind) for p in store.saved_prompts()] == [
        ("Weekly report", "Draft the weekly report.", "system")]
    assert window.selected() is not None and window.selected().name == "Weekly report"

    editor = window.edit_selected()
    assert editor is not None and editor.name_edit.text() == "Weekly report"
    editor.body_edit.setPlainText("Draft the weekly report in bullet points.")
    save(qtbot, window, editor)
    assert store.saved_prompts()[0].body == "Draft the weekly report in bullet points."

    box = window.delete_selected()
    assert isinstance(box, QMessageBox) and "Weekly report" in box.text()
    with qtbot.waitSignal(window.listed, timeout=10_000):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert store.saved_prompts() == []
    assert [r[0] for r in rows(window)] == ["Incident summary", "House style (system prompt)"]


def test_insert_hands_the_text_to_the_composer_and_use_sets_the_conversation(
    qtbot: QtBot, library: Callable[..., PromptLibraryWindow], store: HistoryStore
) -> None:
    cid = store.create_conversation("open on screen")
    window = library(cid)
    select(window, "Incident summary")
    assert not window.use_button.isEnabled()  # not a system prompt
    with qtbot.waitSignal(window.insert_requested) as inserted:
        window.insert_button.click()
    assert inserted.args == ["Summarise the incident in five bullet points."]
    select(window, "House style")
    with qtbot.waitSignal(window.system_prompt_set, timeout=10_000) as used:
        window.use_button.click()
    assert used.args == [cid]
    assert store.conversation_system_prompt(cid) == "Answer in plain British English."
    assert library().use_button.isEnabled() is False  # no conversation saved yet: nothing to set


def test_the_window_closes_with_escape(library: Callable[..., PromptLibraryWindow],
                                       qtbot: QtBot) -> None:
    window = library()
    qtbot.keyClick(window.list, Qt.Key.Key_Escape)
    assert not window.isVisible()


def test_system_prompt_dialog_shows_the_site_prompt_locked_and_saves_the_conversations(
    qtbot: QtBot, store: HistoryStore, policy: EffectivePolicy
) -> None:
    cid = store.create_conversation("styled")
    store.set_conversation_system_prompt(cid, "Be brief.")
    dialog = SystemPromptDialog(store, policy, cid)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=10_000):
        dialog.show()
    assert dialog.site_view.toPlainText() == SITE and dialog.site_view.isReadOnly()
    assert dialog.site_box.isVisible()
    assert dialog.own_edit.toPlainText() == "Be brief."
    dialog.own_edit.setPlainText("Answer\u200b in French.")
    with qtbot.waitSignal(dialog.saved, timeout=10_000) as saved:
        dialog.save_button.click()
    assert saved.args == ["Answer in French."]
    assert store.conversation_system_prompt(cid) == "Answer in French."
    assert not dialog.isVisible()

    cleared = SystemPromptDialog(store, policy, cid)
    qtbot.addWidget(cleared)
    with qtbot.waitSignal(cleared.loaded, timeout=10_000):
        cleared.show()
    cleared.clear_button.click()
    with qtbot.waitSignal(cleared.saved, timeout=10_000):
        cleared.save_button.click()
    assert store.conversation_system_prompt(cid) is None

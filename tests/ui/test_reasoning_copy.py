"""Copying a reasoning model's answer copies the answer, not its thinking.

The real SmolLM2 never writes ``<think>``, so the answer is stored directly in the history,
as a reasoning model's turn would have stored it, then opened in the real window.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.ui.main_window import MainWindow

ANSWER = "<think>\nThe user wants France's capital.\n</think>\n\nParis."


@pytest.mark.model
def test_copy_leaves_the_thinking_behind(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(model_paths, wait_for_model=True)
    history = w.app.history
    assert history is not None
    cid = history.create_conversation("Capitals")
    asked = history.add_message(cid, "user", "What does <think> mean? And France's capital?")
    history.add_message(cid, "assistant", ANSWER, parent_id=asked, model_id="reasoner")
    w.open_conversation(cid)
    qtbot.waitUntil(lambda: len(w.view.messages) == 2, timeout=10_000)
    assert not w.welcome.shown  # a conversation with messages is shown, not the welcome
    clipboard = QApplication.clipboard()

    w.turns.message_action("copy", 1)
    assert clipboard.text() == "Paris."
    w.copy_last_answer()
    assert clipboard.text() == "Paris."
    # What the user typed is copied as typed, marker and all.
    w.turns.message_action("copy", 0)
    assert clipboard.text() == "What does <think> mean? And France's capital?"
    # The history keeps the answer exactly as it was written.
    assert history.messages(cid)[-1].text == ANSWER

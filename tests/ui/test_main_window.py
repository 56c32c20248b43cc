"""The real window: type, send, watch tokens arrive, stop, close mid-answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.ui.main_window import MainWindow

pytestmark = pytest.mark.model


@pytest.fixture
def window(model_paths: AppPaths, open_window: Any) -> MainWindow:
    """An unsaved session with the model loaded."""
    w: MainWindow = open_window(model_paths, passphrase=None, wait_for_model=True)
    return w


def type_and_send(qtbot: QtBot, w: MainWindow, text: str) -> None:
    qtbot.keyClicks(w.composer, text)
    qtbot.keyClick(w.composer, Qt.Key.Key_Return)


def test_send_streams_tokens_into_the_view(qtbot: QtBot, window: MainWindow) -> None:
    type_and_send(qtbot, window, "What is the capital of France?")
    assert window.composer.toPlainText() == ""
    assert window.busy and window.stop_button.isEnabled()
    qtbot.waitUntil(lambda: len(window.view.answer_text()) > 5, timeout=20_000)
    with qtbot.waitSignal(window.answer_finished, timeout=60_000):
        pass
    text = window.view.toPlainText()
    assert "What is the capital of France?" in text
    assert "tokens/s" in text
    assert not window.busy and window.send_button.isEnabled()


def test_shift_enter_is_a_new_line(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.keyClicks(window.composer, "line one")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer, "line two")
    assert window.composer.toPlainText() == "line one\nline two"
    assert not window.busy


def test_stop_button_stops_and_keeps_partial_answer(qtbot: QtBot, window: MainWindow) -> None:
    window.app.chat.params = window.app.chat.params.__class__(max_tokens=1000)
    type_and_send(qtbot, window, "Write a very long story about the sea.")
    qtbot.waitUntil(lambda: len(window.view.answer_text()) > 10, timeout=20_000)
    with qtbot.waitSignal(window.answer_finished, timeout=20_000) as blocker:
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.completion.finish_reason == "cancelled"
    assert result.completion.completion_tokens < 1000
    assert "incomplete (stopped)" in window.view.toPlainText()


def test_escape_stops(qtbot: QtBot, window: MainWindow) -> None:
    window.app.chat.params = window.app.chat.params.__class__(max_tokens=1000)
    type_and_send(qtbot, window, "Write a very long story about mountains.")
    qtbot.waitUntil(lambda: len(window.view.answer_text()) > 10, timeout=20_000)
    with qtbot.waitSignal(window.answer_finished, timeout=20_000) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert blocker.args[0].completion.finish_reason == "cancelled"


def test_model_error_is_shown_in_the_window(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any
) -> None:
    w = open_window(app_paths, passphrase=None)  # no model anywhere
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=30_000)
    qtbot.waitUntil(lambda: not w.loading, timeout=30_000)
    # The user sees what went wrong and how to recover ...
    assert "not installed" in w.banner.text()
    assert "Ask your IT team" in w.banner.text() and "make" not in w.banner.text()
    assert w.stack.currentWidget() is w.no_model_page
    # ... and cannot send into a window with no model.
    assert w.engine_info is None
    assert not w.send_button.isEnabled()
    assert not w.stop_button.isEnabled()
    qtbot.keyClicks(w.composer, "Hello?")
    qtbot.keyClick(w.composer, Qt.Key.Key_Return)
    assert not w.busy and w.view.messages == []


def test_close_mid_answer_exits_cleanly(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any
) -> None:
    w = open_window(model_paths, passphrase=None, wait_for_model=True)
    w.app.chat.params = w.app.chat.params.__class__(max_tokens=2000)
    type_and_send(qtbot, w, "Write a very long story about rivers.")
    qtbot.waitUntil(lambda: len(w.view.answer_text()) > 10, timeout=20_000)
    w.close()
    assert not any(lane.active for lane in w.lanes())


def test_failed_switch_keeps_the_loaded_model(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    loaded = window.engine_info
    assert loaded is not None
    window.load_model(str(tmp_path / "missing.gguf"))
    qtbot.waitUntil(lambda: window.banner.isVisible() and not window.loading, timeout=30_000)
    assert "missing.gguf" in window.banner.text()
    # The model that was loaded before still answers: the user may go on sending.
    assert window.engine_info == loaded
    assert window.send_button.isEnabled()
    assert window.stack.currentWidget() is window.view

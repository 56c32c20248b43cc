"""The window survives the engine process crashing mid-answer.

The fault is injected into the real engine process, the way llama.cpp segfaults on hardware
this machine does not have. The window must stay, keep the partial answer, say what happened
in words, and answer the next message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.ui.main_window import MainWindow

pytestmark = [pytest.mark.model, pytest.mark.slow]
PASSPHRASE = "engine crash passphrase"


@pytest.fixture
def window(model_paths: AppPaths, open_window: Any) -> MainWindow:
    w: MainWindow = open_window(model_paths, passphrase=PASSPHRASE, wait_for_model=True,
                                timeout_ms=60_000)
    return w


@pytest.mark.parametrize("fault", ["segv@12", "abort@12", "hang@12", "oom@12"])
def test_window_survives_an_engine_crash(
    qtbot: QtBot, window: MainWindow, model_paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    window.app.chat.params = GenerationParams(max_tokens=200, temperature=0.0)
    window.app.chat.local.options = window.app.chat.local.options.__class__(
        context_length=1024, watchdog_s=3.0)
    # The next engine process (the one answering now is restarted with the fault armed).
    monkeypatch.setenv("ENCLAVE_ENGINE_FAULT", fault)
    engine = window.app.chat.engine
    assert engine is not None
    engine.options = window.app.chat.local.options
    engine.close()  # the next turn starts a fresh engine process, which has the fault
    qtbot.keyClicks(window.composer, "Write a long story about a lighthouse.")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.banner.isVisible() and not window.busy, timeout=60_000)
    banner = window.banner.text()
    assert "local engine" in banner and "answer so far is kept" in banner
    assert "safer settings" in banner
    partial = window.view.last_answer()
    assert len(partial) > 5  # the tokens before the crash are still on screen
    assert "incomplete" in window.view.toPlainText()
    # The partial answer is in the history, marked incomplete.
    history = window.app.history
    assert history is not None and window.app.chat.history is not None
    [conv] = history.list_conversations()
    answers = [m for m in history.messages(conv.id) if m.role == "assistant"]
    assert answers[-1].text and not answers[-1].complete
    # An engine.crashed record with the model digest.
    from app.core.audit import audit_log_path

    records = [json.loads(line) for line in audit_log_path(model_paths).read_text().splitlines()]
    crashed = [r for r in records if r["event"] == "engine.crashed"]
    assert crashed and crashed[-1]["model"]["sha256"] == window.engine_info.model_sha256
    # The next turn works, in a fresh engine process with safer settings.
    monkeypatch.delenv("ENCLAVE_ENGINE_FAULT")
    window.app.chat.params = GenerationParams(max_tokens=12)
    with qtbot.waitSignal(window.answer_finished, timeout=60_000) as blocker:
        qtbot.keyClicks(window.composer, "Say hello.")
        qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert blocker.args[0].completion.completion_tokens > 0
    assert blocker.args[0].conversation_id == conv.id  # it goes on where the crash was
    assert "after a crash" in window.status_device.text()

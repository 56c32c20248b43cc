"""Picking a remote route in the window: the indicator says where words go, confirmation asks.

The remote side is the FAKE Anthropic Messages server of the connector tests (no real one
runs here); the window, the policy, the history and the redaction are real.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.core.context import open_app
from app.core.paths import AppPaths
from app.core.policy import current_os_user
from app.ui.main_window import MainWindow
from tests.integration.connector.servers import FakeAnthropicMessagesServer
from tests.ui.conftest import PASSPHRASE

pytestmark = pytest.mark.model


@pytest.fixture
def fake() -> Iterator[FakeAnthropicMessagesServer]:
    server = FakeAnthropicMessagesServer(api_key="sk-ui-test")
    yield server
    server.close()


def connector_policy(tmp_path: Path, fake: FakeAnthropicMessagesServer, confirm: bool
                     ) -> dict[str, Any]:
    key = tmp_path / "claude.key"
    key.write_text("sk-ui-test\n")
    os.chmod(key, 0o600)
    return {"connector": {
        "enabled": True, "allowed_users": [current_os_user()[0]],
        "require_confirmation": confirm,
        "endpoints": [{"name": "claude", "kind": "anthropic", "base_url": fake.base_url,
                       "classification": "external", "models": ["fake-claude"],
                       "api_key_file": str(key)}]}}


def window_for(qtbot: QtBot, paths: AppPaths) -> MainWindow:
    ctx = open_app(paths, passphrase=PASSPHRASE)
    w = MainWindow(ctx)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.engine_info is not None, timeout=30_000)
    return w


def pick_route(w: MainWindow, name: str) -> None:
    index = w.route_picker.findData(name)
    w.route_picker.setCurrentIndex(index)
    w.route_picker.activated.emit(index)


def test_remote_route_is_shown_and_answers_with_restored_values(
    qtbot: QtBot, tmp_path: Path, model_paths: AppPaths, fake: FakeAnthropicMessagesServer,
    with_policy: Callable[[Any, dict[str, Any]], Any],
) -> None:
    w = window_for(qtbot, with_policy(model_paths, connector_policy(tmp_path, fake, False)))
    try:
        assert w.route_picker.isVisible()
        pick_route(w, "claude")
        assert "CLAUDE" in w.route_label.text() and "external" in w.route_label.text()
        with qtbot.waitSignal(w.answer_finished, timeout=30_000) as done:
            w.send("Mail alice@example.com please")
        assert "alice@example.com" not in str(fake.bodies)
        assert done.args[0].completion.text == "You said: Mail alice@example.com please"
        assert "alice@example.com" in w.view.toPlainText()
    finally:
        w.close()
        w.app.close()


def test_confirmation_dialog_declined_sends_nothing(
    qtbot: QtBot, tmp_path: Path, model_paths: AppPaths, fake: FakeAnthropicMessagesServer,
    with_policy: Callable[[Any, dict[str, Any]], Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[str] = []

    def decline(box: QMessageBox) -> int:
        shown.append(box.detailedText())
        return int(QMessageBox.StandardButton.No.value)

    monkeypatch.setattr(QMessageBox, "exec", decline)
    w = window_for(qtbot, with_policy(model_paths, connector_policy(tmp_path, fake, True)))
    try:
        pick_route(w, "claude")
        w.send("Mail alice@example.com please")
        qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=30_000)
        assert "Nothing was sent" in w.banner.text()
        assert fake.bodies == []
        assert re.search(r"<EMAIL_1_[a-z0-9]{8}>", shown[0]) and "alice@example.com" not in shown[0]
    finally:
        w.close()
        w.app.close()

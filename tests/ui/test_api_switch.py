"""The Local API switch in the real window: policy decides, the server serves, close stops it.

Real policy files, the real encrypted history (tokens live there) and the real server.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.ui.api_switch import TokensDialog
from tests.ui.test_evaluate_view import unnamed

ENABLED = {"api": {"enabled": True}}


def get_models(port: int, secret: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {secret}"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def switch_on(qtbot: QtBot, w: Any) -> Any:
    switch = w.menus.api
    switch.port = 0  # a free loopback TCP port; the default is the private Unix socket
    switch.action.setChecked(True)
    qtbot.waitUntil(lambda: switch.address.startswith("http://127.0.0.1:"), timeout=30_000)
    return switch


def make_token(qtbot: QtBot, w: Any) -> str:
    dialog = TokensDialog(w.menus.api, w)
    dialog.show()
    dialog.name_edit.setText("gui-test")
    dialog.create_button.click()
    qtbot.waitUntil(lambda: bool(dialog.secret.text()), timeout=10_000)
    assert dialog.secret.isReadOnly() and dialog.copy_button.isEnabled()
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == dialog.secret.text()
    assert unnamed(dialog) == []
    qtbot.waitUntil(lambda: dialog.tokens.count() == 1, timeout=10_000)
    assert "gui-test" in dialog.tokens.item(0).text()
    secret = dialog.secret.text()
    dialog.close()
    return secret


def refused(port: int) -> bool:
    try:
        get_models(port, "x")
    except OSError:
        return True
    return False


def test_turning_the_api_on_serves_models_and_off_stops_it(
    qtbot: QtBot, open_window: Callable[..., Any], with_policy: Any, app_paths: AppPaths
) -> None:
    w = open_window(with_policy(app_paths, ENABLED))
    assert w.menus.api.action.isEnabled() and w.menus.api.action.isCheckable()
    switch = switch_on(qtbot, w)
    port = int(switch.address.rsplit(":", 1)[1].split("/")[0])
    secret = make_token(qtbot, w)
    status, body = get_models(port, secret)
    assert status == 200 and body["object"] == "list"
    assert get_models(port, "not-a-token")[0] == 401
    switch.action.setChecked(False)
    qtbot.waitUntil(lambda: not switch.running and switch.address == "", timeout=30_000)
    assert refused(port)


def test_closing_the_window_stops_the_api(
    qtbot: QtBot, open_window: Callable[..., Any], with_policy: Any, app_paths: AppPaths
) -> None:
    w = open_window(with_policy(app_paths, ENABLED))
    switch = switch_on(qtbot, w)
    port = int(switch.address.rsplit(":", 1)[1].split("/")[0])
    w.close()
    assert not switch.running
    assert refused(port)


@pytest.mark.usefixtures("qtbot")
def test_without_the_policy_the_switch_is_disabled_and_says_why(
    open_window: Callable[..., Any], app_paths: AppPaths
) -> None:
    w = open_window(app_paths)
    action = w.menus.api.action
    assert not action.isEnabled()
    assert "has not enabled the local API" in action.toolTip()
    assert not w.menus.api.tokens_action.isEnabled()

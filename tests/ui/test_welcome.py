"""An empty conversation teaches: starter prompts, and where words go under the policy.

The real window on the real model and policy files; the remote route's endpoint is only
named by the policy (nothing is sent to it here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.core.policy import current_os_user
from app.ui.main_window import MainWindow


def starters(w: MainWindow) -> dict[str, Any]:
    return {b.text(): b for b in w.welcome.page.starters}


@pytest.mark.model
def test_a_new_window_welcomes_and_a_starter_fills_the_composer(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(model_paths, wait_for_model=True)
    page = w.welcome.page
    qtbot.waitUntil(page.isVisible, timeout=5_000)
    assert w.stack.currentWidget() is w.view  # the view stays the page; the welcome covers it
    assert page.geometry() == w.view.rect()
    cards = starters(w)
    assert list(cards) == ["Summarise a document", "Draft an email", "Explain this code",
                           "Ask about your documents"]
    assert all(b.isVisible() and b.accessibleName() for b in cards.values())
    assert page.where.text().startswith("Everything you type stays on this computer")

    qtbot.mouseClick(cards["Draft an email"], Qt.MouseButton.LeftButton)
    assert w.composer.toPlainText() == "Draft a short, friendly email that "
    assert w.composer.hasFocus()
    assert w.composer.textCursor().position() == len(w.composer.toPlainText())

    # The keyboard reaches the cards too: Space on a focused card is a click.
    cards["Explain this code"].setFocus()
    qtbot.keyClick(cards["Explain this code"], Qt.Key.Key_Space)
    assert w.composer.toPlainText().startswith("Explain what this code does")

    w.composer.setPlainText("Say hello.")
    qtbot.keyClick(w.composer, Qt.Key.Key_Return)
    assert not page.isVisible(), "the welcome must give way to the conversation"
    assert w.stack.currentWidget() is w.view and w.view.isVisible()
    qtbot.waitUntil(lambda: not w.busy, timeout=30_000)
    assert "Say hello." in w.view.toPlainText() and not page.isVisible()

    w.new_chat()  # a fresh conversation is empty again: the welcome comes back
    assert page.isVisible()


def test_a_window_without_a_model_shows_the_no_model_page_not_the_welcome(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(app_paths)
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.no_model_page and not w.loading,
                    timeout=30_000)
    assert not w.welcome.shown


@pytest.mark.model
def test_a_policy_allowing_a_remote_route_is_stated_by_name(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
    with_policy: Callable[[Any, dict[str, Any]], Any],
) -> None:
    managed = {"connector": {
        "enabled": True, "allowed_users": [current_os_user()[0]],
        "endpoints": [{"name": "claude", "kind": "anthropic",
                       "base_url": "https://claude.example", "classification": "external",
                       "models": ["some-claude"]}]}}
    w: MainWindow = open_window(with_policy(model_paths, managed), wait_for_model=True)
    page = w.welcome.page
    qtbot.waitUntil(page.isVisible, timeout=5_000)
    where = page.where.text()
    assert "Everything you type stays" not in where
    assert "claude (outside your organization; redacted first, you confirm before it is sent)" \
        in where
    assert "Your organization manages Enclave" in page.policy.text()
    assert "50-test.json" in page.policy.text()

"""Route preview in the real window: under auto routing the draft's route shows before sending.

Real policy files, the real history and router; the remote endpoint's address answers nothing,
and nothing is sent: no turn runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.core.policy import current_os_user


def auto_policy() -> dict[str, Any]:
    user, _ = current_os_user()
    return {
        "connector": {
            "enabled": True, "allowed_users": [user], "require_confirmation": False,
            "endpoints": [{"name": "onprem", "kind": "openai", "classification": "internal",
                           "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}],
        },
        "routing": {"mode": "auto", "auto_endpoint": "onprem"},
        "redaction": {"custom_terms": ["NIGHTJAR"]},
    }


def type_draft(w: Any, text: str) -> None:
    w.composer.clear()
    QTest.keyClicks(w.composer, text)


def test_the_draft_route_is_previewed_and_nothing_is_sent(
    qtbot: QtBot, open_window: Callable[..., Any], with_policy: Any, model_paths: AppPaths
) -> None:
    w = open_window(with_policy(model_paths, auto_policy()))
    finished: list[Any] = []
    w.answer_finished.connect(finished.append)
    label = w.route_preview.label
    type_draft(w, "status of NIGHTJAR")
    qtbot.waitUntil(lambda: label.isVisible() and label.text().startswith(
        "Local — contains a term your organization lists as sensitive"), timeout=30_000)
    type_draft(w, "What is the capital of Peru?")
    qtbot.waitUntil(lambda: label.text().startswith("Remote (onprem) — general question"),
                    timeout=30_000)
    assert label.accessibleName() == "Route preview"
    assert w.composer.toPlainText() == "What is the capital of Peru?"
    type_draft(w, "")
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=5_000)
    assert finished == []
    assert w.conversation_id is None
    # A local-only collection in the conversation's scope keeps the draft here, as the turn.
    w.documents.attachments_changed.emit(["briefings"], True)
    type_draft(w, "What is the capital of Peru?")
    qtbot.waitUntil(lambda: label.text().startswith(
        "Local — it draws on local-only documents"), timeout=30_000)
    w.documents.attachments_changed.emit([], False)
    # Picking "local" forces this machine: the preview has nothing to say, turns stay here.
    picker = w.route_picker
    local = next(i for i in range(picker.count()) if picker.itemData(i) == "local")
    picker.setCurrentIndex(local)
    picker.activated.emit(local)
    assert w.turns.jobs.route == "local"
    type_draft(w, "What is the capital of Peru?")
    qtbot.wait(600)
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=5_000)


def test_without_auto_routing_nothing_is_previewed(
    qtbot: QtBot, open_window: Callable[..., Any], app_paths: AppPaths
) -> None:
    w = open_window(app_paths)
    before = w.route_label.text()
    type_draft(w, "status of NIGHTJAR")
    qtbot.wait(500)
    assert not w.route_preview.label.isVisible()
    assert w.route_label.text() == before

"""Evaluate a model from the real window: the real model, a few items of a built-in suite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QTextBrowser,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths

FEW = ("cap-capital-france", "cap-add")
CONTROLS = (QAbstractButton, QLineEdit, QListWidget, QTextBrowser, QProgressBar)


def unnamed(widget: QWidget) -> list[str]:
    """Controls inside ``widget`` a screen reader could not name."""
    return [type(c).__name__ for c in widget.findChildren(QWidget)
            if isinstance(c, CONTROLS) and not c.accessibleName()]


def open_view(qtbot: QtBot, w: Any) -> Any:
    w.menus.open_evaluate()
    view = w.menus.evaluation
    qtbot.waitUntil(lambda: view.run_button.isEnabled(), timeout=10_000)
    assert view.isVisible() and view.cancel_button.focusPolicy() != Qt.FocusPolicy.NoFocus
    assert unnamed(view) == []
    return view


def capability(view: Any) -> Any:
    items = (view.suites.item(i) for i in range(view.suites.count()))
    return next(i.data(Qt.ItemDataRole.UserRole) for i in items
                if i.data(Qt.ItemDataRole.UserRole).name == "capability")


def test_a_short_evaluation_shows_progress_then_the_report(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths
) -> None:
    w = open_window(model_paths)
    view = open_view(qtbot, w)
    steps: list[str] = []
    view.progress.valueChanged.connect(lambda _: steps.append(view.status.text()))
    view.start([capability(view).subset(ids=FEW)])
    assert view.cancel_button.isEnabled() and not view.run_button.isEnabled()
    qtbot.waitUntil(lambda: view.result is not None, timeout=90_000)
    assert not view.result.cancelled and view.result.report is not None
    assert any(s.startswith(("1 of 2", "2 of 2")) for s in steps), steps
    assert view.status.text().startswith(("PASSED", "FAILED"))
    assert view.report.isReadOnly() and "capability" in view.report.toPlainText()
    assert not view.cancel_button.isEnabled() and view.run_button.isEnabled()


def test_cancel_stops_the_run_and_keeps_nothing(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths
) -> None:
    w = open_window(model_paths)
    view = open_view(qtbot, w)
    view.start([capability(view)])
    qtbot.waitUntil(lambda: view.progress.maximum() > 1, timeout=60_000)
    view.cancel_button.click()
    qtbot.waitUntil(lambda: view.result is not None, timeout=60_000)
    assert view.result.cancelled and view.result.path is None
    assert view.status.text().startswith("Cancelled")
    assert view.report.toPlainText() == ""

"""Every control a keyboard or screen-reader user meets has a name and can be reached.

The test walks the window's focus chain with real Tab presses, as a keyboard user does, and
fails on a control it reaches that has no accessible name, and on a visible control it never
reaches. Text follows the size the OS (or the user) sets for the application font.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible, QFont
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QMenuBar,
    QPlainTextEdit,
    QScrollBar,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.ui.main_window import MainWindow

CONTROLS = (QAbstractButton, QLineEdit, QTextEdit, QPlainTextEdit, QComboBox,
            QAbstractItemView, QAbstractSpinBox)
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "styles"


def accessible_name(widget: QWidget) -> str:
    """The name a screen reader announces (Qt derives it from a button's text, a label…)."""
    iface = QAccessible.queryAccessibleInterface(widget)
    name = iface.text(QAccessible.Text.Name) if iface is not None else ""
    return (name or widget.accessibleName()).strip()


def controls(window: QWidget) -> list[QWidget]:
    """The visible, enabled controls of a window a user can operate."""
    found = []
    for w in window.findChildren(QWidget):
        if not isinstance(w, CONTROLS) or isinstance(w, QScrollBar):
            continue
        if not (w.isVisibleTo(window) and w.isEnabled() and w.window() is window):
            continue
        # A line edit's own clear button, the menu bar's overflow: part of another control.
        if isinstance(w.parentWidget(), (QLineEdit, QMenuBar, QComboBox)):
            continue
        found.append(w)
    return found


def walk(qtbot: QtBot, window: QWidget, limit: int = 200) -> list[QWidget]:
    """Press Tab until focus comes back to where it started; the widgets it visited."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    start = QApplication.focusWidget()
    assert start is not None, "nothing has the keyboard focus when the window opens"
    seen: list[QWidget] = [start]
    for _ in range(limit):
        current = QApplication.focusWidget()
        assert current is not None
        QTest.keyClick(current, Qt.Key.Key_Tab)
        after = QApplication.focusWidget()
        assert after is not None, f"Tab from {type(current).__name__} lost the focus"
        if after is start:
            return seen
        if after not in seen:
            seen.append(after)
    return seen


def describe(w: QWidget) -> str:
    return f"{type(w).__name__}(objectName={w.objectName()!r}, text={getattr(w, 'text', str)()!r})"


def check_window(qtbot: QtBot, window: QWidget) -> None:
    reached = walk(qtbot, window)
    unnamed = [describe(w) for w in reached if not accessible_name(w)]
    assert not unnamed, f"controls without an accessible name: {unnamed}"
    missed = [describe(w) for w in controls(window) if w not in reached
              and not any(r.isAncestorOf(w) for r in reached)]
    assert not missed, f"controls the keyboard never reaches: {missed}"


@pytest.mark.model
def test_every_control_of_the_main_window_is_named_and_reached_by_tab(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(model_paths, wait_for_model=True)
    check_window(qtbot, w)


def test_the_window_without_a_model_is_named_and_reached_by_tab(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(app_paths)
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.no_model_page, timeout=10_000)
    check_window(qtbot, w)


def test_the_style_sheets_never_fix_text_in_pixels() -> None:
    """Pixel font sizes would ignore the OS's text scaling; points and relative sizes follow."""
    for sheet in ASSETS.glob("*.qss"):
        pinned = re.findall(r"font-size\s*:\s*[\d.]+px", sheet.read_text("utf-8"))
        assert not pinned, f"{sheet.name} fixes text in pixels: {pinned}"


def test_text_grows_with_the_application_font(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any,
) -> None:
    w: MainWindow = open_window(app_paths)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = w.composer.fontInfo().pointSizeF()
    font = QFont(app.font())
    font.setPointSizeF(before * 2)
    app.setFont(font)
    try:
        qtbot.waitUntil(lambda: w.composer.fontInfo().pointSizeF() >= before * 1.8,
                        timeout=5000)
        assert w.view.fontInfo().pointSizeF() >= before * 1.8
    finally:
        font.setPointSizeF(before)
        app.setFont(font)


@pytest.mark.model
def test_the_tool_windows_are_named_and_reached_by_tab(
    qtbot: QtBot, model_paths: AppPaths, open_window: Any,
) -> None:
    """The Models window, the Prompt library and Settings, as a keyboard user meets them."""
    from app.ui.dialogs import SettingsDialog

    w: MainWindow = open_window(model_paths, wait_for_model=True)
    w.menus.open_models_page()
    page = w.menus.models
    assert page is not None
    qtbot.waitUntil(lambda: page.table.rowCount() > 0, timeout=30_000)
    check_window(qtbot, page)
    page.close()
    w.menus.prompts.open_library()
    library = w.menus.prompts.library
    assert library is not None
    qtbot.waitUntil(library.isVisible, timeout=5000)
    check_window(qtbot, library)
    library.close()
    settings = SettingsDialog(w.app, w)
    settings.show()
    check_window(qtbot, settings)
    settings.close()

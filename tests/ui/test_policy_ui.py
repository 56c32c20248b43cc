"""What the administrator's policy changes in the window: locks, banner, restricted mode, export.

These windows need no answer from the model: the policy is drawn before any model loads.
"""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.ui.banners import ClassificationBanner
from app.ui.dialogs import PolicyDialog, SettingsDialog

BANNER = {"text": "OFFICIAL-SENSITIVE", "foreground": "#FFFFFF", "background": "#8B0000"}


def test_locked_setting_is_disabled_with_the_organization_tooltip(
    qtbot: QtBot, app_paths: AppPaths, with_policy: Any, open_window: Any
) -> None:
    w = open_window(with_policy(app_paths, {"history": {"retention_days": 30}}))
    dialog = SettingsDialog(w.app, w)
    qtbot.addWidget(dialog)
    editor = dialog.editors["history.retention_days"]
    assert not editor.isEnabled()
    assert editor.value() == 30
    assert "Managed by your organization" in editor.toolTip()
    assert not dialog.locks["history.retention_days"].isHidden()
    assert dialog.locks["history.retention_days"].toolTip() == "Managed by your organization"
    # An unlocked one can be changed and is saved by the core.
    temperature = dialog.editors["generation.temperature"]
    assert temperature.isEnabled() and dialog.locks["generation.temperature"].isHidden()
    temperature.setValue(0.3)
    dialog.save()
    assert w.app.settings.get("generation.temperature") == 0.3


def test_banner_is_at_the_top_and_bottom_in_the_admins_colours(
    qtbot: QtBot, app_paths: AppPaths, with_policy: Any, open_window: Any
) -> None:
    w = open_window(with_policy(app_paths, {"ui": {"classification_banner": BANNER}}))
    banners = w.findChildren(ClassificationBanner)
    assert sorted(b.objectName() for b in banners) == [
        "classification-banner-bottom", "classification-banner-top"]
    for b in banners:
        assert b.text() == "OFFICIAL-SENSITIVE" and b.isVisible()
        assert "#8B0000" in b.styleSheet() and "#FFFFFF" in b.styleSheet()
    top = next(b for b in banners if b.objectName().endswith("top"))
    bottom = next(b for b in banners if b.objectName().endswith("bottom"))
    assert top.mapTo(w, top.rect().topLeft()).y() == 0
    assert bottom.mapTo(w, bottom.rect().bottomLeft()).y() == w.height() - 1
    # Dialogs carry it too.
    for dialog in (SettingsDialog(w.app, w), PolicyDialog(w.app.policy, w)):
        qtbot.addWidget(dialog)
        assert len(dialog.findChildren(ClassificationBanner)) == 2


def test_restricted_mode_shows_its_reason(
    qtbot: QtBot, app_paths: AppPaths, with_policy: Any, open_window: Any
) -> None:
    w = open_window(with_policy(app_paths, {"connector": {"enabled": "yes"}}))
    assert w.app.policy.restricted
    label = w.restricted_label
    assert label.isVisible() and "Restricted mode" in label.text()
    assert "connector.enabled" in label.text()
    dialog = PolicyDialog(w.app.policy, w)
    qtbot.addWidget(dialog)
    assert "Restricted mode" in dialog.restricted.text()
    assert dialog.table.rowCount() == len(w.app.policy.report()["keys"])
    # Restricted mode turns export off.
    assert all(not a.isEnabled() for a in w.menus.export_actions)


def test_export_disabled_by_policy(
    qtbot: QtBot, app_paths: AppPaths, with_policy: Any, open_window: Any
) -> None:
    w = open_window(with_policy(app_paths, {"history": {"export_allowed": False}}))
    for action in w.menus.export_actions:
        assert not action.isEnabled()
        assert action.toolTip() == "Managed by your organization"
    cid = w.app.history.create_conversation("Secret")
    w.sidebar.show_conversations(w.app.history.list_conversations(), None)
    menu = w.sidebar.menu_for(w.sidebar.conversations.item(0))
    exports = [a for a in menu.actions() if a.text().startswith("Export")]
    assert len(exports) == 3 and not any(a.isEnabled() for a in exports)
    assert cid


def test_no_model_shows_what_to_do(qtbot: QtBot, app_paths: AppPaths, open_window: Any) -> None:
    w = open_window(app_paths)
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.no_model_page, timeout=20_000)
    text = w.no_model_page.details.text()
    assert "Ask your IT team" in text
    assert w.no_model_page.choose_button.isVisible()
    assert w.banner.isVisible() and "not installed" in w.banner.text()
    assert w.engine_info is None
    assert not w.send_button.isEnabled()


def test_every_control_has_an_accessible_name(
    qtbot: QtBot, app_paths: AppPaths, open_window: Any
) -> None:
    from PySide6.QtWidgets import (
        QAbstractButton,
        QComboBox,
        QLineEdit,
        QListWidget,
        QPlainTextEdit,
        QTextBrowser,
        QWidget,
    )

    w = open_window(app_paths)
    controls = (QAbstractButton, QComboBox, QLineEdit, QListWidget, QPlainTextEdit, QTextBrowser)
    unnamed = [type(c).__name__ for c in w.findChildren(QWidget)
               if isinstance(c, controls) and not c.accessibleName()
               and c.window() is w and c.objectName() != "qt_spinbox_lineedit"]
    assert unnamed == []
    w.resize(1024, 700)
    assert w.width() <= 1024 and w.composer.isVisible() and w.send_button.isVisible()

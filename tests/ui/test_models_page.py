"""The Models window on the real model: list, import, remove, choose, and what policy forbids."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QProgressBar, QTableWidget, QWidget
from pytestqt.qtbot import QtBot

from app.core.models.catalog import default_entry
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths
from app.core.units import human_size
from app.ui.models_page import COLUMNS, ModelsPage
from tests.unit.core.models.conftest import REAL_NAME, renamed_copy, write_small_gguf

pytestmark = [pytest.mark.model, pytest.mark.qt_log_ignore(
    r"This plugin does not support propagateSizeHints\(\)")]

CONTROLS = (QAbstractButton, QTableWidget, QProgressBar)
DEFAULT = default_entry().id


def unnamed(widget: QWidget) -> list[str]:
    """Controls a screen reader could not name."""
    return [type(c).__name__ for c in widget.findChildren(QWidget)
            if isinstance(c, CONTROLS) and not c.accessibleName()]


def active(qtbot: QtBot, window: QWidget) -> None:
    """Make a window the active one, as a click on it would (shortcuts go to it)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)


def open_page(qtbot: QtBot, w: Any) -> ModelsPage:
    """Ctrl+Shift+M opens the Models window; wait until it lists the models."""
    active(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_M,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    page: ModelsPage | None = w.menus.models
    assert page is not None and page.isVisible()
    qtbot.waitUntil(lambda: page.listing is not None, timeout=60_000)
    return page


def cells(page: ModelsPage, model_id: str) -> dict[str, str]:
    """What the table shows for one model, by column title."""
    r = [row.id for row in page.rows].index(model_id)
    items = [page.table.item(r, c) for c in range(len(COLUMNS))]
    return {title: item.text() for title, item in zip(COLUMNS, items, strict=True) if item}


def is_default(page: ModelsPage, model_id: str) -> bool:
    """Whether the page lists a model as the one new chats use."""
    row = page.row(model_id)
    assert row is not None, f"{model_id} is not listed"
    return row.is_default


def relisted(qtbot: QtBot, page: ModelsPage, action: Callable[[], None]) -> None:
    """Run an action and wait until the page has listed the models again."""
    with qtbot.waitSignal(page.listed, timeout=60_000):
        action()


def second_version(tmp_path: Path, default_model_file: Path) -> Path:
    """A real, loadable copy of the model with other bytes (the importer refuses the same)."""
    return renamed_copy(default_model_file, tmp_path / "smollm2-v2.gguf", REAL_NAME,
                        REAL_NAME[:-1] + b"3")


def test_the_page_lists_the_provisioned_model_and_closes_like_the_other_windows(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths,
    default_model_file: Path,
) -> None:
    w = open_window(model_paths)
    page = open_page(qtbot, w)
    assert [r.id for r in page.rows] == [DEFAULT]
    shown = cells(page, DEFAULT)
    assert shown["Model"].endswith("(default)")
    assert shown["Quantization"] == "Q4_1"  # from the file's own metadata
    assert shown["Size"] == human_size(default_model_file.stat().st_size)
    assert shown["Verified"] == "Verified"
    assert shown["Licence"] == default_entry().license
    assert shown["Policy"] == "Allowed"
    assert shown["Hardware"] in ("Runs on GPU", "Runs on CPU", "Runs on GPU and CPU")
    assert "memory" in page.hardware_label.text()
    assert "Licence: " in page.details.text() and "sha256" in page.details.text()
    assert unnamed(page) == []
    # IT's model cannot be removed, and the button says why.
    assert not page.remove_button.isEnabled()
    assert "machine-wide" in page.remove_button.toolTip()
    assert not page.default_button.isEnabled()  # it already is the default
    assert not page.roll_back_button.isEnabled()  # nothing to go back to yet
    active(qtbot, page)
    QTest.keyClick(page, Qt.Key.Key_Escape)
    assert not page.isVisible()
    page = open_page(qtbot, w)  # a fresh page; Ctrl+W and Close close it too
    active(qtbot, page)
    QTest.keyClick(page, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert not page.isVisible()
    page = open_page(qtbot, w)
    page.close_button.click()
    assert not page.isVisible()


def test_import_shows_progress_lists_the_model_and_loads_it(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths, tmp_path: Path,
    default_model_file: Path,
) -> None:
    w = open_window(model_paths, wait_for_model=True)
    page = open_page(qtbot, w)
    source = second_version(tmp_path, default_model_file)
    steps: list[int] = []
    page.progress.valueChanged.connect(steps.append)
    relisted(qtbot, page, lambda: page.import_file(source))
    assert steps and max(steps) == 100 and len(set(steps)) > 2, steps  # the bar moved
    assert not page.progress.isVisible() and not page.cancel_button.isVisible()
    assert page.status.text().startswith("Imported smollm2-v2")
    new = cells(page, "smollm2-v2")
    assert new["Verified"] == "Not verified"  # the catalog does not pin these bytes
    assert (model_paths.user_models_dir / source.name).is_file()
    # Selected after the import, it can be loaded in the window.
    assert page.selected_id() == "smollm2-v2" and page.remove_button.isEnabled()
    page.load_button.click()
    qtbot.waitUntil(lambda: not w.loading and w.engine_info is not None
                    and w.engine_info.model_id == "smollm2-v2", timeout=60_000)


def test_cancel_stops_an_import_and_adds_nothing(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths, tmp_path: Path,
    default_model_file: Path,
) -> None:
    w = open_window(model_paths)
    page = open_page(qtbot, w)
    source = second_version(tmp_path, default_model_file)
    page.progress.valueChanged.connect(lambda _: page.cancel_button.click())
    page.import_file(source)
    assert page.cancel_button.isVisible() and not page.import_button.isEnabled()
    qtbot.waitUntil(lambda: not page.importing, timeout=60_000)
    assert "cancelled" in page.status.text() and "nothing was added" in page.status.text()
    assert list(model_paths.user_models_dir.iterdir()) == []
    relisted(qtbot, page, page.refresh)
    assert [r.id for r in page.rows] == [DEFAULT]


def _empty(d: Path) -> Path:
    (d / "empty.gguf").write_bytes(b"")
    return d / "empty.gguf"


def _truncated(d: Path) -> Path:
    p = write_small_gguf(d / "truncated.gguf")
    p.write_bytes(p.read_bytes()[:-1000])
    return p


def _random(d: Path) -> Path:
    (d / "random.gguf").write_bytes(os.urandom(256 * 1024))
    return d / "random.gguf"


def _text(d: Path) -> Path:
    (d / "notes.txt").write_text("These are my meeting notes. " * 200)
    return d / "notes.txt"


@pytest.mark.parametrize(("make", "said"), [
    (_empty, "too small to be a model"), (_truncated, "the file is truncated"),
    (_random, "is not a GGUF model file"), (_text, "is not a GGUF model file"),
])
def test_a_damaged_file_is_refused_with_a_clear_message_and_nothing_is_added(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths, tmp_path: Path,
    make: Callable[[Path], Path], said: str,
) -> None:
    w = open_window(model_paths)
    page = open_page(qtbot, w)
    bad = make(tmp_path)
    page.import_file(bad)
    qtbot.waitUntil(lambda: not page.importing, timeout=60_000)
    text = page.status.text()
    assert bad.name in text and not text.startswith("Imported"), text
    assert said in text, text
    assert page.import_button.isEnabled() and not page.progress.isVisible()
    assert not model_paths.user_models_dir.exists() or not any(
        model_paths.user_models_dir.iterdir())
    assert [r.id for r in page.rows] == [DEFAULT]


def test_remove_asks_first_then_removes(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths, tmp_path: Path,
    default_model_file: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    imported = ModelRegistry(model_paths).import_model(
        second_version(tmp_path, default_model_file)).model
    w = open_window(model_paths)
    page = open_page(qtbot, w)
    page.select(imported.id)
    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]

    def question(_parent: Any, _title: str, text: str, *_: Any) -> Any:
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    page.remove_button.click()
    assert len(asked) == 1 and str(imported.path) in asked[0]
    assert imported.path.is_file() and page.row(imported.id) is not None  # No keeps it
    answer[0] = QMessageBox.StandardButton.Yes
    relisted(qtbot, page, page.remove_button.click)
    assert len(asked) == 2 and not imported.path.exists()
    assert page.row(imported.id) is None and "Removed smollm2-v2" in page.status.text()


def test_set_as_default_and_roll_back(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths, tmp_path: Path,
    default_model_file: Path,
) -> None:
    imported = ModelRegistry(model_paths).import_model(
        second_version(tmp_path, default_model_file)).model
    w = open_window(model_paths)
    page = open_page(qtbot, w)
    page.select(imported.id)
    assert page.default_button.isEnabled()
    relisted(qtbot, page, page.default_button.click)
    assert is_default(page, imported.id) and not is_default(page, DEFAULT)
    assert "New chats now use smollm2-v2" in page.status.text()
    assert w.app.settings.get("models.default") == w.app.registry.sha256(imported)
    page.close()
    page = open_page(qtbot, w)  # reopened, the page shows the new default
    assert cells(page, imported.id)["Model"].endswith("(default)")
    assert page.roll_back_button.isEnabled()
    relisted(qtbot, page, page.roll_back_button.click)
    assert is_default(page, DEFAULT) and not is_default(page, imported.id)
    page.close()
    page = open_page(qtbot, w)
    assert cells(page, DEFAULT)["Model"].endswith("(default)")


def test_a_model_the_policy_refuses_says_why_and_cannot_be_loaded_or_chosen(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths, with_policy: Any,
) -> None:
    paths = with_policy(model_paths, {"models": {"allowed_sha256": ["0" * 64]}})
    w = open_window(paths)
    page = open_page(qtbot, w)
    assert cells(page, DEFAULT)["Policy"] == "Refused"
    page.select(DEFAULT)
    for button in (page.load_button, page.default_button):
        assert not button.isEnabled()
        assert "approved models" in button.toolTip()
        assert "managed:models.allowed_sha256" in button.toolTip()
    assert "Refused by policy" in page.details.text()
    assert "models.allowed_sha256" in page.details.text()
    with qtbot.assertNotEmitted(page.load_requested):
        page.load_selected()


def test_restricted_mode_refuses_import_with_the_reason(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths, with_policy: Any,
    tmp_path: Path, default_model_file: Path,
) -> None:
    paths = with_policy(model_paths, {"connector": {"enabled": "yes"}})
    w = open_window(paths)
    assert w.app.policy.restricted
    page = open_page(qtbot, w)
    assert not page.import_button.isEnabled()
    assert "restricted mode" in page.import_button.toolTip()
    page.import_file(second_version(tmp_path, default_model_file))
    assert "restricted mode" in page.status.text() and "restricted-mode" in page.status.text()
    assert not page.importing and not paths.user_models_dir.joinpath("smollm2-v2.gguf").exists()


def test_evaluate_and_compare_open_their_windows(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths,
) -> None:
    w = open_window(model_paths)
    page = open_page(qtbot, w)
    page.select(DEFAULT)
    page.evaluate_button.click()
    assert w.menus.evaluation is not None and w.menus.evaluation.isVisible()
    assert w.menus.evaluation.model_id == DEFAULT
    page.compare_button.click()
    assert w.menus.comparison is not None and w.menus.comparison.isVisible()

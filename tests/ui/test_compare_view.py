"""Compare models in the real window: the real model against itself on two built-in items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.paths import AppPaths
from app.ui.compare_view import comparison_html
from tests.ui.test_evaluate_view import FEW, unnamed


def test_a_model_compared_with_itself_shows_every_answer_the_same(
    qtbot: QtBot, open_window: Callable[..., Any], model_paths: AppPaths
) -> None:
    from app.core.approval.suites import all_suites, site_dirs

    w = open_window(model_paths)
    w.menus.open_compare()
    view = w.menus.comparison
    qtbot.waitUntil(lambda: view.run_button.isEnabled(), timeout=15_000)
    assert view.isVisible() and unnamed(view) == []
    assert view.model_a.count() >= 1 and view.model_a.currentData() == view.model_b.currentData()
    [capability] = [s for s in all_suites(site_dirs(w.app.policy)) if s.name == "capability"]
    view.start([capability.subset(ids=FEW)])
    assert view.cancel_button.isEnabled() and not view.run_button.isEnabled()
    qtbot.waitUntil(lambda: view.comparison is not None, timeout=180_000)
    table = view.comparison.table
    assert table["identical"] and table["items_compared"] == len(FEW)
    text = view.table.toPlainText()
    assert "Every answer is the same." in text and "capability" in text
    assert view.run_button.isEnabled() and not view.cancel_button.isEnabled()
    assert view.cancel_button.focusPolicy() != Qt.FocusPolicy.NoFocus


def test_differing_answers_are_shown_side_by_side_and_escaped() -> None:
    table = {
        "a": {"name": "Model <A>"}, "b": {"name": "Model B"},
        "suites": [{"suite": "capability", "a": 0.5, "b": 0.25}],
        "performance": [{"figure": "tokens_per_s", "a": 30.0, "b": None}],
        "items_compared": 2, "identical": False,
        "differences": [{"suite": "capability", "id": "cap-add", "prompt": "2+2?",
                         "a": {"output": "4"}, "b": {"output": "<script>5</script>"}}],
    }
    page = comparison_html(table)
    assert "1 of 2 answers differ" in page and "&lt;script&gt;5&lt;/script&gt;" in page
    assert "Model &lt;A&gt;" in page and "<script>" not in page

"""The Usage view on a real audit log: charts fill in, drift is said in words."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCharts import QBarSeries, QLineSeries
from pytestqt.qtbot import QtBot

from app.core.audit import AuditLog
from app.core.errors import EnclaveError
from app.core.observe import UsageCache, usage_report
from app.core.paths import AppPaths
from app.ui.usage_view import DAYS_SHOWN, UsageView
from tests.unit.core.observe.synthetic import FakeClock, record_call

# Known noise: the offscreen platform says this for every top-level widget with a layout.
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")


@pytest.fixture
def usage_log(app_paths: AppPaths, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    """Two models over the last three days; the local one's last 20 answers got much longer."""
    clock = FakeClock(monkeypatch, datetime.now(UTC) - timedelta(days=3))
    rng = random.Random(7)
    with AuditLog(app_paths, hmac_key=b"k" * 32) as log:
        for i in range(80):
            record_call(log, tokens_out=round(rng.gauss(650 if i >= 60 else 150, 20)),
                        ttft_ms=rng.gauss(200, 20), latency_ms=rng.gauss(3000, 150))
            clock.advance(minutes=50)
        for _ in range(5):
            record_call(log, model="gpt-x", sha256="", route="openai",
                        classification="external", cost=0.01)
            clock.advance(minutes=5)
    return app_paths


@pytest.fixture
def make_view(qtbot: QtBot) -> Iterator[Any]:
    views: list[UsageView] = []

    def make(report_fn: Any) -> UsageView:
        view = UsageView(report_fn)
        qtbot.addWidget(view)
        views.append(view)
        return view

    yield make
    for view in views:
        view.close()  # waits for the pool: no worker outlives the test


def bar_sets(view: UsageView, chart: str) -> dict[str, list[float]]:
    (series,) = getattr(view, chart).series()
    assert isinstance(series, QBarSeries)
    return {s.label(): [s.at(i) for i in range(s.count())] for s in series.barSets()}


def test_the_report_fills_every_chart_and_the_drift_panel(
    qtbot: QtBot, usage_log: AppPaths, make_view: Any
) -> None:
    gui_thread = threading.get_ident()
    computed_on: list[int] = []

    def report() -> dict[str, Any]:
        computed_on.append(threading.get_ident())
        return usage_report(usage_log, cache=UsageCache())

    view = make_view(report)
    with qtbot.waitSignal(view.report_shown, timeout=10_000):
        view.show()
    assert computed_on and computed_on[0] != gui_thread  # the GUI thread never read the log
    assert not view.busy and view.refresh_button.isEnabled()

    calls = bar_sets(view, "calls_chart")["Calls"]
    assert len(calls) == DAYS_SHOWN and sum(calls) == 85

    latency = bar_sets(view, "latency_chart")
    assert set(latency) == {"p50", "p95"}
    assert [len(v) for v in latency.values()] == [2, 2]  # one bar per model
    local_p50 = latency["p50"][0]
    assert 2700 < local_p50 < 3300

    lines = view.speed_chart.series()
    assert all(isinstance(s, QLineSeries) for s in lines)
    assert sorted(s.name() for s in lines) == ["gpt-x", "qwen-small"]
    assert sum(s.count() for s in lines) == 85

    drift = [view.drift_list.item(i).text() for i in range(view.drift_list.count())]
    assert any("qwen-small" in d and "Answer length rose" in d for d in drift), drift
    assert any("Too few calls yet to judge: gpt-x" in d for d in drift), drift
    assert "85 calls" in view.summary_label.text()


def test_switching_the_window_redraws_without_recomputing(
    qtbot: QtBot, usage_log: AppPaths, make_view: Any
) -> None:
    count = 0

    def report() -> dict[str, Any]:
        nonlocal count
        count += 1
        return usage_report(usage_log, cache=UsageCache())

    view = make_view(report)
    with qtbot.waitSignal(view.report_shown, timeout=10_000):
        view.show()
    view.window_picker.setCurrentIndex(0)  # the last 24 hours
    assert view.selected_window() == "day"
    day_calls = int(view.summary_label.text().split()[0])
    assert 0 < day_calls < 85 and count == 1


def test_a_failure_is_said_and_refresh_stays_possible(
    qtbot: QtBot, make_view: Any
) -> None:
    def report() -> dict[str, Any]:
        raise EnclaveError("The audit log could not be read.", "Check its permissions.")

    view = make_view(report)
    view.show()
    qtbot.waitUntil(lambda: not view.busy, timeout=10_000)
    assert view.status_label.text() == "The audit log could not be read."
    assert view.refresh_button.isEnabled()


def test_every_control_has_an_accessible_name(
    qtbot: QtBot, app_paths: AppPaths, make_view: Any
) -> None:
    from PySide6.QtCharts import QChartView
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QListWidget

    view = make_view(lambda: usage_report(app_paths, cache=UsageCache()))
    with qtbot.waitSignal(view.report_shown, timeout=10_000):
        view.show()
    kinds = (QAbstractButton, QComboBox, QLabel, QListWidget, QChartView)
    widgets = [w for w in view.findChildren(object) if isinstance(w, kinds)]
    assert len(widgets) >= 8
    assert all(w.accessibleName() for w in widgets), [type(w).__name__ for w in widgets
                                                      if not w.accessibleName()]
    items = [view.drift_list.item(i).text() for i in range(view.drift_list.count())]
    assert items == ["No calls recorded yet."]


def test_an_unexpected_failure_is_said_without_a_traceback(
    qtbot: QtBot, make_view: Any
) -> None:
    def report() -> dict[str, Any]:
        raise ValueError("bad row 17")

    view = make_view(report)
    view.show()
    qtbot.waitUntil(lambda: not view.busy, timeout=10_000)
    assert "failed unexpectedly (ValueError)" in view.status_label.text()
    assert "bad row" not in view.status_label.text()
    assert view.refresh_button.isEnabled()


def test_closing_the_view_while_it_reads_leaves_it_idle(qtbot: QtBot) -> None:
    """Closed before its report came: the result is dropped, and the view no longer says busy."""
    started, release = threading.Event(), threading.Event()

    def slow_report() -> dict[str, Any]:
        started.set()
        release.wait(10)
        return {}

    view = UsageView(slow_report)
    qtbot.addWidget(view)
    view.show()
    assert started.wait(5), "the report never started"
    assert view.busy
    threading.Timer(0.2, release.set).start()  # the close waits for the running report
    view.close()
    assert not view.busy
    assert view.refresh_button.isEnabled()

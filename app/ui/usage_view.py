"""The Usage view: calls per day, latency per model, decoding speed over time, and drift.

It draws what ``app.core.observe.usage_report`` computes. Reading the audit log can take a
moment on a large log, so the report is computed on the view's own ``BackgroundLane`` and
comes back to the GUI thread, a failure as a typed ``EnclaveError``; the view waits for the
lane when it closes, so no work outlives it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QDateTimeAxis,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import QDateTime, QPointF, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QPainter, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import EnclaveError
from app.ui.background import BackgroundLane
from app.ui.banners import close_with_keys
from app.ui.notices import analyst_hint

DAYS_SHOWN = 14
WINDOW_LABELS = {"day": "Last 24 hours", "week": "Last 7 days", "month": "Last 30 days"}


def _chart_view(title: str, accessible: str, parent: QWidget) -> tuple[QChartView, QChart]:
    chart = QChart()
    chart.setTitle(title)
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    view = QChartView(chart, parent)
    view.setRenderHint(QPainter.RenderHint.Antialiasing)
    view.setAccessibleName(accessible)
    view.setMinimumSize(320, 220)
    return view, chart


class UsageView(QWidget):
    """Charts and drift flags from the usage report.

    Args:
        report_fn: Computes the report (``lambda: usage_report(paths)``); called off the GUI
            thread, so it must not touch widgets.
        parent: The owning widget.
    """

    report_shown = Signal(object)  # the report, once every chart shows it (GUI thread)

    def __init__(
        self, report_fn: Callable[[], dict[str, Any]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setAccessibleName("Usage")
        self.setWindowTitle("Usage")
        self.report: dict[str, Any] | None = None
        self._report_fn = report_fn
        self._busy = False
        self.lane = BackgroundLane("enclave-usage", self)
        self._build()

    # --- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        self.window_picker = QComboBox(self)
        self.window_picker.setAccessibleName("Time window")
        for key, label in WINDOW_LABELS.items():
            self.window_picker.addItem(label, key)
        self.window_picker.setCurrentIndex(1)
        self.window_picker.currentIndexChanged.connect(self._window_changed)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setAccessibleName("Refresh usage figures")
        self.refresh_button.clicked.connect(self.refresh)
        self.status_label = QLabel("", self)
        self.status_label.setAccessibleName("Usage status")
        self.close_button = QPushButton("Close", self)
        self.close_button.setAccessibleName("Close")
        self.close_button.setToolTip("Close the usage window (Esc)")
        self.close_button.clicked.connect(self.close)
        close_with_keys(self, self.close)
        controls.addWidget(self.window_picker)
        controls.addWidget(self.refresh_button)
        controls.addWidget(self.status_label, 1)
        controls.addWidget(self.close_button)
        layout.addLayout(controls)

        self.summary_label = QLabel("", self)
        self.summary_label.setAccessibleName("Usage summary")
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)

        layout.addLayout(self._build_charts(), 1)

    def _build_charts(self) -> QGridLayout:
        grid = QGridLayout()
        self.calls_view, self.calls_chart = _chart_view(
            "Calls per day (UTC)", "Chart: calls per day", self
        )
        self.latency_view, self.latency_chart = _chart_view(
            "Latency per model (ms)", "Chart: latency p50 and p95 per model", self
        )
        self.speed_view, self.speed_chart = _chart_view(
            "Decoding speed (tokens/s)", "Chart: tokens per second over time", self
        )
        self._calls_x, self._calls_y = QBarCategoryAxis(), QValueAxis()
        self._latency_x, self._latency_y = QBarCategoryAxis(), QValueAxis()
        self._speed_x, self._speed_y = QDateTimeAxis(), QValueAxis()
        self._speed_x.setFormat("MM-dd")
        for y_axis in (self._calls_y, self._latency_y, self._speed_y):
            y_axis.setLabelFormat("%.0f")
        for chart, x_axis, y_axis in (
            (self.calls_chart, self._calls_x, self._calls_y),
            (self.latency_chart, self._latency_x, self._latency_y),
            (self.speed_chart, self._speed_x, self._speed_y),
        ):
            chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
            chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
        self.calls_chart.legend().hide()

        drift_box = QWidget(self)
        drift_layout = QVBoxLayout(drift_box)
        drift_layout.setContentsMargins(0, 0, 0, 0)
        drift_title = QLabel("<b>Drift</b>", drift_box)
        drift_title.setAccessibleName("Drift")
        self.drift_list = QListWidget(drift_box)
        self.drift_list.setAccessibleName("Drift flags")
        self.drift_list.setWordWrap(True)
        drift_layout.addWidget(drift_title)
        drift_layout.addWidget(self.drift_list, 1)

        grid.addWidget(self.calls_view, 0, 0)
        grid.addWidget(self.latency_view, 0, 1)
        grid.addWidget(self.speed_view, 1, 0)
        grid.addWidget(drift_box, 1, 1)
        return grid

    # --- work -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a report is being computed."""
        return self._busy

    def selected_window(self) -> str:
        """The selected window: ``day``, ``week`` or ``month``."""
        return str(self.window_picker.currentData())

    def refresh(self) -> None:
        """Compute the report again in the background (ignored while one is computing)."""
        if self._busy:
            return
        self._busy = True
        self.refresh_button.setEnabled(False)
        self.status_label.setText("Reading the audit log…")
        self.lane.run(self._report_fn, on_done=self._show_report, on_error=self._show_failure,
                      what="Computing the usage report")

    def shutdown(self) -> None:
        """Wait for a report being computed; called when the view closes."""
        self.lane.shutdown()
        # The lane drops a result that comes after it stopped: nothing is computing any more,
        # so the view must not say it is (it used to stay busy for good when closed early).
        self._busy = False
        self.refresh_button.setEnabled(True)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Compute the first report when the view is first shown."""
        super().showEvent(event)
        if self.report is None and not self._busy:
            self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Let a running computation finish so no worker outlives the view."""
        self.shutdown()
        super().closeEvent(event)

    def _show_report(self, report: dict[str, Any]) -> None:
        self._busy = False
        self.refresh_button.setEnabled(True)
        self.report = report
        self.status_label.setText(f"Updated {report.get('generated_at', '')}")
        self._draw()
        self.report_shown.emit(report)

    def _show_failure(self, error: EnclaveError) -> None:
        self._busy = False
        self.refresh_button.setEnabled(True)
        self.status_label.setText(error.message)
        self.status_label.setToolTip(analyst_hint(error))

    @Slot(int)
    def _window_changed(self, _index: int) -> None:
        if self.report is not None:
            self._draw()

    # --- drawing (GUI thread) ---------------------------------------------------------------

    def _draw(self) -> None:
        assert self.report is not None
        window = self.report["windows"][self.selected_window()]
        self._draw_summary(window)
        self._draw_calls(self.report["daily"][-DAYS_SHOWN:])
        self._draw_latency(window["models"])
        self._draw_speed(self.report["throughput"], window["since"])
        self._draw_drift(self.report["drift"])

    def _draw_summary(self, window: dict[str, Any]) -> None:
        totals = window["totals"]

        def pct(value: float | None) -> str:
            return "–" if value is None else f"{value:.0%}"

        text = (
            f"{totals['calls']} calls · errors {pct(totals['error_rate'])} · "
            f"refused by the model {pct(totals['refusal_rate'])} · "
            f"{totals['tokens_in']} tokens in, {totals['tokens_out']} out"
        )
        if totals["cost"]:
            text += f" · cost {totals['cost']:.2f}"
        refused = sum(window["policy_refusals"].values())
        if refused:
            text += f" · {refused} refused by policy"
        self.summary_label.setText(text)

    def _draw_calls(self, daily: list[dict[str, Any]]) -> None:
        self.calls_chart.removeAllSeries()
        calls = QBarSet("Calls")
        calls.append([float(d["calls"]) for d in daily])
        series = QBarSeries()
        series.append(calls)
        self._calls_x.clear()
        self._calls_x.append([d["date"][5:] for d in daily])
        self._calls_y.setRange(0, max([1.0, *(d["calls"] * 1.1 for d in daily)]))
        self._attach(self.calls_chart, series, self._calls_x, self._calls_y)

    def _draw_latency(self, models: list[dict[str, Any]]) -> None:
        self.latency_chart.removeAllSeries()
        series = QBarSeries()
        top = 1.0
        for key in ("p50", "p95"):
            bars = QBarSet(key)
            values = [float(m["latency_ms"][key] or 0.0) for m in models]
            bars.append(values)
            top = max([top, *values])
            series.append(bars)
        self._latency_x.clear()
        self._latency_x.append([m["model_id"] for m in models] or [""])
        self._latency_y.setRange(0, top * 1.1)
        self._attach(self.latency_chart, series, self._latency_x, self._latency_y)

    def _draw_speed(self, points: list[dict[str, Any]], since: str) -> None:
        self.speed_chart.removeAllSeries()
        start = QDateTime.fromSecsSinceEpoch(int(_epoch(since)))
        per_model: dict[str, QLineSeries] = {}
        top, first, last = 1.0, None, None
        for point in points:
            when = _epoch(point["ts"])
            if when < start.toSecsSinceEpoch():
                continue
            line = per_model.get(point["model_id"])
            if line is None:
                line = per_model[point["model_id"]] = QLineSeries()
                line.setName(point["model_id"])
            line.append(QPointF(when * 1000.0, float(point["tokens_per_s"])))
            top = max(top, float(point["tokens_per_s"]))
            first = when if first is None else min(first, when)
            last = when if last is None else max(last, when)
        if first is None or last is None:
            first, last = start.toSecsSinceEpoch(), QDateTime.currentSecsSinceEpoch()
        if last - first < 3600:
            first, last = first - 1800, last + 1800  # a range of zero cannot be drawn
        self._speed_x.setRange(
            QDateTime.fromSecsSinceEpoch(int(first)), QDateTime.fromSecsSinceEpoch(int(last))
        )
        self._speed_x.setFormat("MM-dd hh:mm" if last - first < 3 * 86400 else "MM-dd")
        self._speed_y.setRange(0, top * 1.1)
        for line in per_model.values():
            self._attach(self.speed_chart, line, self._speed_x, self._speed_y)

    @staticmethod
    def _attach(chart: QChart, series: Any, x_axis: Any, y_axis: Any) -> None:
        chart.addSeries(series)
        series.attachAxis(x_axis)
        series.attachAxis(y_axis)

    def _draw_drift(self, signals: list[dict[str, Any]]) -> None:
        self.drift_list.clear()
        flagged = [s for s in signals if s["flagged"]]
        for s in flagged:
            digest = f" ({s['sha256'][:12]})" if s["sha256"] else ""
            item = QListWidgetItem(f"⚠ {s['model_id']}{digest}: {s['explanation']}")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"Drift flagged: {s['explanation']}")
            self.drift_list.addItem(item)
        if not signals:
            self.drift_list.addItem("No calls recorded yet.")
        elif not flagged:
            self.drift_list.addItem("No drift detected.")
        unjudged = sorted({s["model_id"] for s in signals if s["baseline"] is None})
        if unjudged:
            self.drift_list.addItem(f"Too few calls yet to judge: {', '.join(unjudged)}.")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()

"""Compare two models: the same suites on both, scores, speed and differing answers side by side.

``app.core.approval.compare.compare`` does the work on the view's own ``BackgroundLane``;
progress comes back through the lane's progress signal. The table is the core's
``Comparison.table``, drawn as escaped HTML.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import EnclaveError
from app.ui.background import BackgroundLane
from app.ui.evaluate_view import progress_text

if TYPE_CHECKING:
    from app.core.approval.compare import Comparison
    from app.core.approval.suites import Suite
    from app.core.context import AppContext


def _cell(value: Any) -> str:
    return "—" if value is None else html.escape(str(value))


def comparison_html(table: dict[str, Any]) -> str:
    """The comparison as a page: suite scores, performance, then every differing answer."""
    a, b = table.get("a") or {}, table.get("b") or {}
    rows = "".join(f"<tr><td>{_cell(r['suite'])}</td><td>{_cell(r['a'])}</td>"
                   f"<td>{_cell(r['b'])}</td></tr>" for r in table.get("suites") or [])
    perf = "".join(f"<tr><td>{_cell(p['figure'])}</td><td>{_cell(p['a'])}</td>"
                   f"<td>{_cell(p['b'])}</td></tr>" for p in table.get("performance") or [])
    diffs = table.get("differences") or []
    answers = "".join(
        f"<h4>{_cell(d['suite'])} / {_cell(d['id'])}</h4><p><i>{_cell(d.get('prompt'))}</i></p>"
        f"<table border='1' cellpadding='4'><tr><th>A</th><th>B</th></tr><tr>"
        f"<td>{_cell(d['a'].get('output'))}</td><td>{_cell(d['b'].get('output'))}</td>"
        "</tr></table>" for d in diffs)
    same = ("<p><b>Every answer is the same.</b></p>" if table.get("identical")
            else f"<p>{len(diffs)} of {table.get('items_compared', 0)} answers differ.</p>")
    head = "<tr><th></th><th>A: {}</th><th>B: {}</th></tr>".format(
        _cell(a.get("name") or a.get("id")), _cell(b.get("name") or b.get("id")))
    return (f"<h3>Scores</h3><table border='1' cellpadding='4'>{head}{rows}</table>"
            f"<h3>Speed and memory</h3><table border='1' cellpadding='4'>{head}{perf}</table>"
            f"<h3>Answers</h3>{same}{answers}")


class CompareView(QWidget):
    """Pick two installed models, run the default suites (or given ones) on both, compare.

    Args:
        app: The application context (paths, policy, settings, audit, chat registry).
        parent: The owning window.
    """

    def __init__(self, app: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.cancel = threading.Event()
        self.comparison: Comparison | None = None
        self.lane = BackgroundLane("enclave-compare", self)
        self.setAccessibleName("Compare models")
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.model_a, self.model_b = QComboBox(self), QComboBox(self)
        self.model_a.setAccessibleName("Model A")
        self.model_b.setAccessibleName("Model B")
        self.run_button = QPushButton("Compare", self)
        self.run_button.setAccessibleName("Compare the two models")
        self.run_button.setEnabled(False)
        self.run_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel the comparison")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.cancel.set())
        for widget in (self.model_a, self.model_b, self.run_button, self.cancel_button):
            row.addWidget(widget)
        layout.addLayout(row)
        self.status = QLabel("Choose two models, then Compare.", self)
        self.status.setAccessibleName("Comparison status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.table = QTextBrowser(self)
        self.table.setAccessibleName("Comparison")
        self.table.setOpenExternalLinks(False)
        layout.addWidget(self.table, 1)
        from app.core.models.choices import model_choices

        chat = app.chat
        self.lane.run(lambda: model_choices(chat.registry, app.policy), on_done=self._listed,
                      on_error=self._failed, what="Listing the models")

    def _listed(self, choices: list[Any]) -> None:
        for combo in (self.model_a, self.model_b):
            combo.clear()
            for choice in choices:
                combo.addItem(choice.name, choice.id)
        self.run_button.setEnabled(bool(choices))

    def start(self, suites: Sequence[Suite] | None = None) -> None:
        """Compare the two picked models on ``suites`` (default: the default suites)."""
        from app.core.approval.compare import compare

        a, b = self.model_a.currentData(), self.model_b.currentData()
        if self.cancel_button.isEnabled() or a is None or b is None:
            return
        app, chosen = self.app, None if suites is None else list(suites)
        self.cancel = threading.Event()
        cancel = self.cancel
        self.comparison = None
        self.table.clear()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Loading model A…")

        def work(report: Any) -> Comparison:
            return compare(app.paths, app.policy, str(a), str(b), suites=chosen,
                           settings=app.settings, audit=app.audit,
                           on_progress=lambda side, p: report((side, p)), cancel=cancel)

        self.lane.run(work, on_done=self._finished, on_error=self._failed,
                      on_progress=self._progressed, what="Comparing the models")

    def _progressed(self, step: tuple[str, Any]) -> None:
        side, progress = step
        self.status.setText(f"Model {side}: {progress_text(progress)}")

    def _finished(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self._idle()
        if comparison.cancelled or not comparison.table:
            self.status.setText("Cancelled; nothing was kept.")
            return
        self.status.setText("Done: scores, speed and differing answers below.")
        self.table.setHtml(comparison_html(comparison.table))

    def _failed(self, error: EnclaveError) -> None:
        self._idle()
        self.status.setText(f"{error.message} {error.hint}".strip())

    def _idle(self) -> None:
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(self.model_a.count() > 0)

    def shutdown(self) -> None:
        """Cancel a comparison and wait for the lane (the view or its window is closing)."""
        self.cancel.set()
        self.lane.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Closing the view cancels the comparison; nothing outlives it."""
        self.shutdown()
        super().closeEvent(event)

"""Evaluate a model: run approval suites on it and show the sealed report.

``app.core.approval.runner.evaluate`` does the work (loading the model, the items, the report)
on the view's own ``BackgroundLane``; each step comes back as an ``EvaluationProgress`` through
the lane's progress signal, so the bar moves without polling. Cancel sets the run's event;
closing the view cancels too and waits for the lane.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import EnclaveError
from app.ui.background import BackgroundLane

if TYPE_CHECKING:
    from app.core.approval.runner import EvaluationProgress, EvaluationResult
    from app.core.approval.suites import Suite
    from app.core.context import AppContext

PHASES = {"loading": "Loading the model…", "indexing": "Indexing the suites' documents…"}


def progress_text(p: EvaluationProgress) -> str:
    """One line for the progress label: the step, and the time left once it is known."""
    if p.phase in PHASES:
        return PHASES[p.phase]
    if p.phase == "done":
        return f"Finished {p.done} of {p.total} items in {p.elapsed_s:.0f} s."
    verdict = {True: "passed", False: "failed", None: ""}[p.passed]
    eta = f" — about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
    return f"{p.done} of {p.total}: {p.suite} / {p.item} {verdict}{eta}"


class EvaluateView(QWidget):
    """Pick suites, run them on a model, watch progress, read the report.

    Args:
        app: The application context (paths, policy, settings, audit).
        model_id: The model to evaluate; ``None``: the default model.
        parent: The owning window.
    """

    def __init__(self, app: AppContext, model_id: str | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.model_id = model_id
        self.cancel = threading.Event()
        self.result: EvaluationResult | None = None
        self.lane = BackgroundLane("enclave-evaluate", self)
        self.setAccessibleName("Evaluate model")
        layout = QVBoxLayout(self)
        title = QLabel(f"Evaluate {model_id or 'the default model'}", self)
        title.setAccessibleName("Model to evaluate")
        layout.addWidget(title)
        self.suites = QListWidget(self)
        self.suites.setAccessibleName("Suites to run")
        layout.addWidget(self.suites)
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Evaluation progress")
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.status = QLabel("Choose suites, then Run.", self)
        self.status.setAccessibleName("Evaluation status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addLayout(self._buttons())
        self.report = QTextBrowser(self)
        self.report.setAccessibleName("Evaluation report")
        self.report.setReadOnly(True)
        self.report.setOpenExternalLinks(False)
        layout.addWidget(self.report, 1)
        self._load_suites()

    def _buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.run_button = QPushButton("Run", self)
        self.run_button.setAccessibleName("Run evaluation")
        self.run_button.setEnabled(False)
        self.run_button.clicked.connect(lambda: self.start(self.checked_suites()))
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel evaluation")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.cancel.set())  # the current run's
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        return row

    def _load_suites(self) -> None:
        from app.core.approval.suites import all_suites, site_dirs

        policy = self.app.policy
        self.lane.run(lambda: all_suites(site_dirs(policy)), on_done=self._show_suites,
                      on_error=self._failed, what="Reading the evaluation suites")

    def _show_suites(self, suites: list[Suite]) -> None:
        self.suites.clear()
        for suite in suites:
            item = QListWidgetItem(f"{suite.name} — {len(suite.items)} items", self.suites)
            item.setData(Qt.ItemDataRole.UserRole, suite)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = suite.default
            item.setCheckState(Qt.CheckState.Checked if default else Qt.CheckState.Unchecked)
        self.run_button.setEnabled(True)

    def checked_suites(self) -> list[Suite]:
        """The suites ticked in the list."""
        items = (self.suites.item(i) for i in range(self.suites.count()))
        return [i.data(Qt.ItemDataRole.UserRole) for i in items
                if i.checkState() == Qt.CheckState.Checked]

    @property
    def running(self) -> bool:
        """Whether a run is under way."""
        return self.cancel_button.isEnabled()

    def start(self, suites: Sequence[Suite]) -> None:
        """Run ``suites`` on the model (off the GUI thread)."""
        from app.core.approval.runner import evaluate

        if self.running or not suites:
            return
        app, model_id, chosen = self.app, self.model_id, list(suites)
        self.cancel = threading.Event()
        cancel = self.cancel
        self.result = None
        self.report.clear()
        self.progress.setRange(0, 0)  # busy until the first step says how many
        self.progress.setVisible(True)
        self.status.setText(PHASES["loading"])
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

        def work(report: Any) -> EvaluationResult:
            return evaluate(app.paths, app.policy, model_id, suites=chosen,
                            settings=app.settings, audit=app.audit, on_progress=report,
                            cancel=cancel)

        self.lane.run(work, on_done=self._finished, on_error=self._failed,
                      on_progress=self._progressed, what="Evaluating the model")

    def _progressed(self, p: EvaluationProgress) -> None:
        self.progress.setRange(0, max(p.total, 1))
        self.progress.setValue(p.done)
        self.status.setText(progress_text(p))

    def _finished(self, result: EvaluationResult) -> None:
        from app.core.approval.render import html_page

        self.result = result
        self._idle()
        if result.cancelled or result.report is None:
            self.status.setText(f"Cancelled after {result.done} of {result.total} items; "
                                "no report was kept.")
            return
        verdict = "PASSED" if result.passed else "FAILED"
        where = f" Report kept at {result.path}." if result.path else ""
        self.status.setText(f"{verdict}: {result.done} of {result.total} items ran.{where}")
        self.report.setHtml(html_page(result.report))

    def _failed(self, error: EnclaveError) -> None:
        self._idle()
        self.status.setText(f"{error.message} {error.hint}".strip())

    def _idle(self) -> None:
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(self.suites.count() > 0)
        self.progress.setVisible(False)

    def shutdown(self) -> None:
        """Cancel a run and wait for the lane (the view or its window is closing)."""
        self.cancel.set()
        self.lane.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Closing the view cancels the run; nothing outlives it."""
        self.shutdown()
        super().closeEvent(event)

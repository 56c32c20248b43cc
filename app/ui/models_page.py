"""The Models page: every installed model, what the policy says of it, and what to do with it.

Like a "My Models" hub, for an offline site governed by policy: each model is listed with its
family, size, quantization, licence, whether the catalog verified its bytes, what the policy
and the approval gate decided, and where it would run on this machine. Import (with progress
and Cancel), Remove, Set as default, Roll back, Load, Evaluate and Compare act on it. Every
decision and every refusal's reason comes from ``app.core.models.manage``; the work runs on
the page's own lane (``ModelsWorker``), so the window stays responsive while GBs are copied.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import EnclaveError
from app.core.units import human_size
from app.ui.banners import close_with_keys, wrap_with_banners
from app.ui.dialogs import start_folder
from app.ui.models_worker import Listing, ModelsWorker
from app.ui.notices import analyst_hint

if TYPE_CHECKING:
    from app.core.context import AppContext
    from app.core.models.manage import ModelRow, Refusal

COLUMNS = ("Model", "Family", "Size", "Quantization", "Licence", "Verified", "Policy",
           "Hardware")


def _cells(row: ModelRow) -> tuple[str, ...]:
    c = row.choice
    name = f"{c.name} (default)" if row.is_default else c.name
    verified = "Verified" if c.verified else (
        "Damaged" if c.state in ("damaged", "digest_mismatch") else "Not verified")
    return (name, row.family, human_size(c.size), row.quantization, row.licence, verified,
            row.policy, row.fit.label)


def row_details(row: ModelRow) -> str:
    """Everything about the selected model a person needs to decide, in sentences."""
    c = row.choice
    lines = [f"{c.name} — {c.id} ({'installed by IT' if c.location == 'site' else 'imported'})",
             f"Verified: {'yes, the catalog pins these bytes' if c.verified else 'no'}. "
             f"sha256 {c.sha256[:16]}…" if c.sha256 else "The file cannot be read."]
    if c.state == "blocked":
        lines.append(f"Refused by policy: {c.reason} (rule: {c.rule})")
    elif c.reason:
        lines.append(c.reason)
    if c.rule and c.state != "blocked":
        lines.append(f"Policy rule: {c.rule}")
    if c.hint:
        lines.append(c.hint)
    lines.append(f"Licence: {row.licence}" + (f" ({row.licence_url})" if row.licence_url else ""))
    lines.append(f"Hardware: {row.fit.label}. {row.fit.reason}")
    return "\n".join(lines)


class ModelsPage(QWidget):
    """The Models window.

    Args:
        app: The application context (registry, policy, settings, audit log).
        parent: The main window.

    Signals:
        load_requested: A model id the user wants loaded in the main window.
        evaluate_requested: A model id to evaluate (the Evaluate window opens).
        compare_requested: Open the Compare window.
        models_changed: An import, removal or new default changed the installed models.
    """

    load_requested = Signal(str)
    evaluate_requested = Signal(str)
    compare_requested = Signal()
    models_changed = Signal()
    listed = Signal()  # a fresh listing is on screen (GUI thread)

    def __init__(self, app: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.setWindowTitle("Models")
        self.setAccessibleName("Models")
        self.rows: list[ModelRow] = []
        self.listing: Listing | None = None
        self.importing = False
        self._select_after: str | None = None  # a model just imported or chosen
        self.worker = ModelsWorker(app, self)
        self.lane = self.worker.lane
        body = QVBoxLayout()
        self._build(body)
        self.setLayout(wrap_with_banners(app.policy, body, self))
        close_with_keys(self, self.close)

    # --- layout ---------------------------------------------------------------------------

    def _button(self, text: str, name: str, slot: Any, tip: str = "") -> QPushButton:
        button = QPushButton(text, self)
        button.setAccessibleName(name)
        button.setToolTip(tip or name)
        button.clicked.connect(slot)
        return button

    def _build(self, layout: QVBoxLayout) -> None:
        self.hardware_label = QLabel("Looking at this machine…", self)
        self.hardware_label.setAccessibleName("This machine")
        self.hardware_label.setWordWrap(True)
        layout.addWidget(self.hardware_label)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setAccessibleName("Installed models")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move in it
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.setCornerButtonEnabled(False)  # one model at a time: "select all" is moot
        for corner in self.table.findChildren(QAbstractButton):
            corner.setAccessibleName("Table corner")
        layout.addWidget(self.table, 1)
        self.details = QLabel("Select a model to see why it can or cannot be used.", self)
        self.details.setAccessibleName("Model details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)
        layout.addLayout(self._import_row())
        layout.addLayout(self._action_row())

    def _import_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.import_button = self._button("Import…", "Import a model file", self.choose_file,
                                          "Check a GGUF file and copy it into your models")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Import progress")
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.cancel_button = self._button("Cancel", "Cancel import",
                                          lambda: self.worker.cancel_import())
        self.cancel_button.setVisible(False)
        self.status = QLabel("", self)
        self.status.setAccessibleName("Models status")
        self.status.setWordWrap(True)
        row.addWidget(self.import_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.status, 2)
        refused = self._import_refusal()
        if not refused.allowed:
            self.import_button.setEnabled(False)
            self.import_button.setToolTip(refused.reason)
            self.import_button.setAccessibleDescription(refused.reason)
        return row

    def _action_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.load_button = self._button("Load", "Load the selected model", self.load_selected,
                                        "Load the selected model in the window")
        self.default_button = self._button("Set as default", "Set as default model",
                                           self.set_default, "Use it for new chats")
        self.roll_back_button = self._button("Roll back", "Roll back to the previous default",
                                             self.roll_back)
        self.remove_button = self._button("Remove…", "Remove the selected model",
                                          self.remove_selected)
        self.evaluate_button = self._button("Evaluate…", "Evaluate the selected model",
                                            self._evaluate)
        self.compare_button = self._button("Compare…", "Compare models",
                                           lambda: self.compare_requested.emit())
        self.close_button = self._button("Close", "Close", self.close,
                                         "Close the models window (Esc)")
        for button in (self.load_button, self.default_button, self.roll_back_button,
                       self.remove_button, self.evaluate_button, self.compare_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.close_button)
        self._update_buttons()
        return row

    # --- listing --------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the installed models again (off the GUI thread)."""
        self.worker.refresh(self._show, self._failed)

    def _show(self, listing: Listing) -> None:
        chosen, self._select_after = self._select_after or self.selected_id(), None
        self.listing, self.rows = listing, listing.rows
        self.hardware_label.setText(listing.hardware)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for col, text in enumerate(_cells(row)):
                item = QTableWidgetItem(text)
                item.setToolTip(row.choice.reason if col == 6 else row.fit.reason)
                item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{COLUMNS[col]}: {text}")
                self.table.setItem(r, col, item)
        if not self.rows:
            self.details.setText("No models installed. Import a GGUF file, or ask IT to "
                                 "install the approved models.")
        ids = [row.id for row in self.rows]
        default = next((i for i, row in enumerate(self.rows) if row.is_default), 0)
        if self.rows:
            self.table.selectRow(ids.index(chosen) if chosen in ids else default)
        self._update_buttons()
        self.listed.emit()

    def row(self, model_id: str) -> ModelRow | None:
        """The listed row of a model, if shown."""
        return next((r for r in self.rows if r.id == model_id), None)

    def selected(self) -> ModelRow | None:
        """The selected model's row."""
        picked = self.table.selectionModel().selectedRows()
        index = picked[0].row() if picked else -1
        return self.rows[index] if 0 <= index < len(self.rows) else None

    def selected_id(self) -> str | None:
        """The selected model's id."""
        return row.id if (row := self.selected()) is not None else None

    def select(self, model_id: str) -> None:
        """Select a listed model."""
        self.table.selectRow([r.id for r in self.rows].index(model_id))

    def _selection_changed(self) -> None:
        row = self.selected()
        if row is not None:
            self.details.setText(row_details(row))
        self._update_buttons()

    def _update_buttons(self) -> None:
        row = self.selected()
        none = "Select a model first."
        self._allow(self.load_button, row.load if row else None, none)
        make_default = row.make_default if row else None
        if row is not None and row.is_default and row.make_default.allowed:
            self._allow(self.default_button, None, "It is already the model for new chats.")
        else:
            self._allow(self.default_button, make_default, none)
        self._allow(self.remove_button, row.remove if row else None, none)
        self._allow(self.roll_back_button, self.listing.roll_back if self.listing else None,
                    "Listing the models…")
        self.evaluate_button.setEnabled(row is not None)

    @staticmethod
    def _allow(button: QPushButton, decision: Refusal | None, missing: str) -> None:
        ok = decision is not None and decision.allowed
        why = "" if ok else (decision.reason if decision is not None else missing)
        if decision is not None and decision.rule and not ok:
            why += f" (rule: {decision.rule})"
        button.setEnabled(ok)
        button.setToolTip(why or button.accessibleName())
        button.setAccessibleDescription(why)

    # --- actions --------------------------------------------------------------------------

    def _import_refusal(self) -> Refusal:
        from app.core.models.manage import import_allowed

        return import_allowed(self.app.policy)

    def choose_file(self) -> None:
        """Import…: pick a GGUF file, then import it."""
        path, _ = QFileDialog.getOpenFileName(self, "Import a model file", start_folder(),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        """Copy, check and install ``path`` with a progress bar; Cancel stops it."""
        refused = self._import_refusal()
        if not refused.allowed:
            self._say(f"{refused.reason} (rule: {refused.rule})")
            return
        if self.importing:
            return
        self.importing = True
        self.import_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self._say(f"Checking {path.name}…")
        self.worker.import_file(path, on_progress=self._import_progress,
                                on_done=self._imported, on_error=self._import_failed)

    def _import_progress(self, step: tuple[int, int]) -> None:
        done, total = step
        pct = done * 100 // max(1, total)
        self.progress.setValue(pct)
        self._say(f"Copying: {pct}%" if pct < 100 else
                  "Checking the copy (metadata, then a first load in a separate process)…")

    def _import_ended(self) -> None:
        self.importing = False
        self.import_button.setEnabled(True)
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    def _imported(self, result: Any) -> None:
        self._import_ended()
        self._say(f"Imported {result.model.id} ({human_size(result.model.size)}).")
        self._changed(result.model.id)

    def _import_failed(self, error: EnclaveError) -> None:
        self._import_ended()
        self._failed(error)

    def remove_selected(self) -> None:
        """Remove…: ask, then delete the selected model (only the user's own imports)."""
        row = self.selected()
        if row is None or not row.remove.allowed:
            return
        answer = QMessageBox.question(
            self, "Remove model?",
            f"Delete {row.choice.name} ({human_size(row.choice.size)}) from your models?\n\n"
            f"{row.choice.path}\n\nThe file is deleted; import it again to use it later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.worker.remove(row.id, self._removed, self._failed)

    def _removed(self, result: tuple[Any, bool]) -> None:
        model, was_default = result
        note = " It was the model for new chats; the default model is used now."
        self._say(f"Removed {model.id}.{note if was_default else ''}")
        self._changed(None)

    def set_default(self) -> None:
        """Set as default: new chats use the selected model."""
        row = self.selected()
        if row is not None and row.make_default.allowed:
            self.worker.set_default(row.id, self._default_chosen, self._failed)

    def roll_back(self) -> None:
        """Roll back: the model that was the default before the last change."""
        self.worker.roll_back(self._default_chosen, self._failed)

    def _default_chosen(self, model: Any) -> None:
        self._say(f"New chats now use {model.id}.")
        self._changed(model.id)

    def load_selected(self) -> None:
        """Load: ask the window to load the selected model (its status bar shows progress)."""
        row = self.selected()
        if row is not None and row.load.allowed:
            self._say(f"Loading {row.choice.name} in the window…")
            self.load_requested.emit(row.id)

    def _evaluate(self) -> None:
        if (row := self.selected()) is not None:
            self.evaluate_requested.emit(row.id)

    def _changed(self, select: str | None) -> None:
        self.models_changed.emit()
        self._select_after = select
        self.refresh()

    def _failed(self, error: EnclaveError) -> None:
        self._say(f"{error.message} {analyst_hint(error)}".strip())

    def _say(self, text: str) -> None:
        self.status.setText(text)

    # --- lifetime -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Cancel an import and wait for the lane (the page or its window is closing)."""
        self.worker.shutdown()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """List the models when the page is first shown."""
        super().showEvent(event)
        if self.listing is None:
            self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Closing cancels an import (its partial copy is removed) and waits for the lane."""
        self.shutdown()
        super().closeEvent(event)

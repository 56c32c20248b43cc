"""The Documents panel: collections, adding files in the background, attaching to a conversation.

Index work is a job on the panel's ``BackgroundLane``; ingestion runs in ``IngestJob``'s
thread, its progress coming back on a queued signal, so the window stays responsive.

Each conversation answers from its own collections (its scope). The panel holds the scope of
the conversation on screen (``owner``; ``None``: a new one, whose collections go with its first
message): ``show_scope`` draws a saved one, ``attachments_changed`` tells the chat worker what
to send, ``scope_edited`` asks the window to save what the user ticked, for that conversation
only. ``DocumentsBar`` shows the scope as chips beside the composer.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import EnclaveError
from app.ui.background import BackgroundLane
from app.ui.banners import close_with_keys
from app.ui.dialogs import start_folder
from app.ui.documents_worker import (
    DocumentsJobs,
    documents_allowed,
    progress_text,
    report_text,
)
from app.ui.notices import analyst_hint
from app.ui.theme import LOCK_TOOLTIP

ROLE = Qt.ItemDataRole.UserRole
DEFAULT_COLLECTION = "My documents"  # so "Add files…" works before the user names one
NAME_MISSING = "Name the collection first."
if TYPE_CHECKING:  # numpy and onnxruntime load when documents are first used
    from app.core.docs import Collection, FileRecord, IngestReport, Progress

    Listing = list[tuple[Collection, list[FileRecord]]]


class DocumentsPanel(QWidget):
    """A window listing collections; adds, removes and attaches them."""

    attachments_changed = Signal(list, bool)  # attached names, any of them local-only
    scope_edited = Signal(object, list)  # the user changed it: conversation id or None, names
    scope_added = Signal(int, str)  # a collection made for a conversation no longer on screen
    listing_changed = Signal()
    ingest_done = Signal(object)  # IngestReport (after the panel has shown it)

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle("Enclave — Documents")
        self.setAccessibleName("Documents")
        self.resize(720, 560)
        self.app = app
        self.allowed = documents_allowed(app.policy)
        self.listing: Listing | None = None  # None until the first listing arrives
        self.attached: list[str] = []
        self.owner: int | None = None  # the conversation whose collections are attached
        self._local = False
        self._adding: tuple[int | None, str, bool] | None = None  # owner, name, new?
        self.ingesting = False
        self.worker: DocumentsJobs | None = None
        self._lane: BackgroundLane | None = None
        self._build()

    # --- layout ---------------------------------------------------------------------------

    def _named(self, widget: Any, name: str, tip: str = "") -> Any:
        widget.setAccessibleName(name)
        if tip:
            widget.setToolTip(tip)
        return widget

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.intro = QLabel(
            "Collections of your documents, indexed on this machine. Tick a collection to "
            "answer from it in this conversation; each conversation keeps its own.", self)
        self.intro.setWordWrap(True)
        layout.addWidget(self._named(self.intro, "About documents"))
        self.tree = self._named(QTreeWidget(self), "Collections",
                                "Tick a collection to answer from it in this conversation")
        self.tree.setHeaderLabels(["Collection / file", "Files", "Chunks", "Status"])
        self.tree.setColumnWidth(0, 300)
        self.tree.header().setAccessibleName("Columns")
        self.tree.itemChanged.connect(self._item_changed)
        layout.addWidget(self.tree, 1)

        layout.addLayout(self._build_target())
        layout.addLayout(self._build_buttons())

        run = QHBoxLayout()
        self.progress = self._named(QProgressBar(self), "Ingestion progress")
        self.progress.setRange(0, 1)
        self.cancel_button = self._button("Cancel", self.cancel, "Stop adding files")
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        layout.addLayout(run)
        self.status = self._named(QLabel("", self), "Ingestion status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.skipped_label = QLabel("Skipped files:", self)
        layout.addWidget(self._named(self.skipped_label, "Skipped files heading"))
        self.skipped = self._named(QListWidget(self), "Skipped files",
                                   "Files that could not be indexed, with the reason")
        self.skipped.setMaximumHeight(110)
        layout.addWidget(self.skipped)
        self.error = self._named(QLabel(self), "Error")
        self.error.setObjectName("error-banner")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        for w in (self.skipped_label, self.skipped, self.error):
            w.hide()
        self._set_ingesting(False)
        close_with_keys(self, self.close)
        if not self.allowed:
            self.setEnabled(False)
            self.setToolTip(LOCK_TOOLTIP)

    def _build_target(self) -> QHBoxLayout:
        target = QHBoxLayout()
        target.addWidget(QLabel("Add to collection:", self))
        self.target = self._named(QComboBox(self), "Collection name",
                                  "A new name creates a collection")
        self.target.setEditable(True)
        self.target.view().setAccessibleName("Existing collections")
        self.target.lineEdit().setAccessibleName("Collection name")
        self.target.lineEdit().setPlaceholderText("name, e.g. hr")
        self.target.setEditText(DEFAULT_COLLECTION)
        self.target.editTextChanged.connect(self._name_typed)
        target.addWidget(self.target, 1)
        self.local_only = self._named(
            QCheckBox("Keep on this machine only", self), "Keep on this machine only",
            "Answers that use this collection never leave this computer")
        target.addWidget(self.local_only)
        return target

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.add_files_button = self._button("Add files…", lambda: self.choose("files"))
        self.add_folder_button = self._button("Add folder…", lambda: self.choose("folder"))
        self.remove_button = self._button("Remove…", self.remove_selected,
                                          "Remove the selected file or collection")
        self.refresh_button = self._button("Refresh", self.refresh)
        for b in (self.add_files_button, self.add_folder_button, self.remove_button,
                  self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self._button("Close", self.close, "Close the Documents window (Esc)"))
        return buttons

    def _button(self, text: str, slot: Any, tip: str = "") -> QPushButton:
        button = QPushButton(text, self)
        self._named(button, text.rstrip("…"), tip)
        button.clicked.connect(slot)
        return button

    def _set_ingesting(self, running: bool) -> None:
        self.ingesting = running
        for b in (self.add_files_button, self.add_folder_button, self.remove_button):
            b.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)

    # --- the worker -----------------------------------------------------------------------

    def _ensure_worker(self) -> DocumentsJobs:
        if self.worker is None:
            self._lane = BackgroundLane("enclave-documents", self)
            self.worker = DocumentsJobs(self.app.chat.documents, self._lane, self._show_failure)
        return self.worker

    def shutdown(self) -> None:
        """Cancel any ingestion and wait for the lane (the window is closing)."""
        self.hide()
        if self.worker is not None and self._lane is not None:
            self.worker.cancel_ingest()
            self._lane.shutdown()

    def lanes(self) -> list[BackgroundLane]:
        """The panel's lane, once started (no thread runs before the panel is used)."""
        return [self._lane] if self._lane is not None else []

    # --- actions --------------------------------------------------------------------------

    def open(self) -> None:
        """Show the panel and list the collections."""
        if not self.allowed:
            return
        self.show()
        self.activateWindow()  # brings an open panel forward (raise_() warns offscreen)
        self.refresh()

    def refresh(self) -> None:
        """Ask for the collections again."""
        if self.allowed:
            self._ensure_worker().refresh(self._on_listed)

    def choose(self, kind: str) -> None:
        """Pick files or a folder, then add them to the collection named in the panel."""
        if not self._target_name():
            self._on_failed(NAME_MISSING, "Type a new name, or choose an existing collection.")
            return
        if kind == "folder":
            folder = QFileDialog.getExistingDirectory(self, "Add a folder of documents",
                                                      start_folder())
            picked = [folder] if folder else []
        else:
            picked, _ = QFileDialog.getOpenFileNames(
                self, "Add documents", start_folder(),
                "Documents (*.txt *.md *.markdown *.html *.htm *.csv *.docx *.pdf);;All (*)")
        if picked:
            self.add_paths([Path(p) for p in picked], self._target_name(),
                           self.local_only.isChecked())

    def _target_name(self) -> str:
        return str(self.target.currentText()).strip()

    def _name_typed(self, text: str) -> None:
        if text.strip() and self.error.isVisible() and NAME_MISSING in self.error.text():
            self.error.hide()  # the missing name is fixed

    def add_paths(self, paths: list[Path], collection: str, local_only: bool = False) -> None:
        """Index ``paths`` into ``collection`` in the background, with progress and Cancel."""
        if self.ingesting or not self.allowed or not paths or not collection:
            return
        worker = self._ensure_worker()
        worker.reset_cancel()
        known = {c.name for c, _ in self.listing or []}
        self._adding = (self.owner, collection, collection not in known)
        for w in (self.error, self.skipped, self.skipped_label):
            w.hide()
        self.skipped.clear()
        self.status.setText(f"Preparing to add {len(paths)} item(s) to “{collection}”…")
        self.progress.setRange(0, 0)  # busy until the first progress arrives
        self._set_ingesting(True)
        worker.ingest(list(paths), collection, local_only, on_progress=self._show_progress,
                      on_done=self._on_ingest_finished)

    def cancel(self) -> None:
        """Stop the running ingestion; files already added stay."""
        if self.ingesting and self.worker is not None:
            self.worker.cancel_ingest()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def remove_selected(self) -> None:
        """Remove the selected file or collection, after the user confirms."""
        item = self.tree.currentItem()
        if item is None:
            return
        collection, path = item.data(0, ROLE)
        what = (f"the file “{os.path.basename(path)}” from “{collection}”" if path
                else f"the collection “{collection}” and everything indexed in it")
        answer = QMessageBox.question(
            self, "Remove from documents?",
            f"Remove {what}? The files on disk are not touched.")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(collection, path)

    def remove(self, collection: str, path: str = "") -> None:
        """Remove a file (``path``) or a whole collection (no path), without asking."""
        self._ensure_worker().remove(collection, path, self._on_listed)

    # --- attaching: the scope of the conversation on screen ------------------------------

    def show_scope(self, owner: int | None, names: list[str]) -> None:
        """Show the collections conversation ``owner`` answers from (``None``: a new one)."""
        self.owner = owner
        self._set_attached(list(names))
        self._fill_tree()
        if names and self.listing is None:
            self.refresh()  # which of them must stay on this machine

    def set_attached(self, name: str, attached: bool) -> None:
        """The user attaches or detaches one collection, for this conversation only."""
        self._edit([n for n in self.attached if n != name] + ([name] if attached else []))
        self._fill_tree()

    def _edit(self, names: list[str]) -> None:
        before = self.attached
        self._set_attached(names)
        if self.attached != before:
            self.scope_edited.emit(self.owner, list(self.attached))

    def _set_attached(self, names: list[str]) -> None:
        known = {c.name for c, _ in self.listing or []}
        names = list(dict.fromkeys(n for n in names if self.listing is None or n in known))
        local = any(c.local_only for c, _ in self.listing or [] if c.name in names)
        if (names, local) != (self.attached, self._local):
            self.attached, self._local = names, local
            self.attachments_changed.emit(list(names), local)

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        collection, path = item.data(0, ROLE)
        if column == 0 and not path:
            checked = item.checkState(0) == Qt.CheckState.Checked
            if checked != (collection in self.attached):
                names = [n for n in self.attached if n != collection]
                self._edit(names + ([collection] if checked else []))

    def _attach_new(self, report: IngestReport, listing: Listing) -> None:
        """A collection made through the panel is attached to the conversation that made it."""
        self._on_listed(listing)
        owner, name, new = self._adding or (None, "", False)
        self._adding = None
        if not new or not report.having("indexed"):
            return
        if owner == self.owner:
            self.set_attached(name, True)
        elif owner is not None:
            self.scope_added.emit(owner, name)

    # --- worker results -------------------------------------------------------------------

    def _on_listed(self, listing: Listing) -> None:
        self.listing = listing
        self._fill_tree()
        current = self._target_name()
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItems([c.name for c, _ in listing])
        self.target.setEditText(current)
        self.target.blockSignals(False)
        self._edit(self.attached)  # a collection that is gone leaves this conversation
        self.listing_changed.emit()

    def _fill_tree(self) -> None:
        self.tree.blockSignals(True)
        self.tree.clear()
        for collection, files in self.listing or []:
            where = "this machine only" if collection.local_only else ""
            top = QTreeWidgetItem([collection.name, str(collection.files),
                                   str(collection.chunks), where])
            top.setData(0, ROLE, (collection.name, ""))
            top.setFlags(top.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            top.setCheckState(0, Qt.CheckState.Checked if collection.name in self.attached
                              else Qt.CheckState.Unchecked)
            top.setToolTip(0, "Tick to answer from this collection")
            for f in files:
                status = f"skipped: {f.error}" if f.status == "skipped" else f.status
                child = QTreeWidgetItem([os.path.basename(f.path), "", str(f.chunks), status])
                child.setData(0, ROLE, (collection.name, f.path))
                child.setToolTip(0, f.path)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
        self.tree.blockSignals(False)

    def _show_progress(self, p: Progress) -> None:
        if not self.ingesting:
            return  # a late report after the end or a failure
        self.progress.setRange(0, max(1, p.files_total))
        self.progress.setValue(p.files_done)
        self.progress.setFormat(f"{p.files_done}/{p.files_total}")
        if self.cancel_button.isEnabled():  # keep "Cancelling…" once asked
            self.status.setText(progress_text(p)
                                + (f" · {os.path.basename(p.current)}" if p.current else ""))

    def _on_ingest_finished(self, report: IngestReport) -> None:
        self._set_ingesting(False)
        self.status.setText(report_text(report))
        skipped = report.having("skipped")
        for f in skipped:
            self.skipped.addItem(f"{os.path.basename(f.path)} — {f.reason or 'unknown reason'}")
            self.skipped.item(self.skipped.count() - 1).setToolTip(f.path)
        self.skipped.setVisible(bool(skipped))
        self.skipped_label.setVisible(bool(skipped))
        self.ingest_done.emit(report)
        self._ensure_worker().refresh(partial(self._attach_new, report))

    def _show_failure(self, error: EnclaveError) -> None:
        self._on_failed(error.message, analyst_hint(error))

    def _on_failed(self, message: str, hint: str) -> None:
        if self.ingesting:
            self._set_ingesting(False)
            self.status.setText("Adding files stopped.")
        self.error.setText(f"<b>{message}</b>" + (f"<br>{hint}" if hint else ""))
        self.error.show()

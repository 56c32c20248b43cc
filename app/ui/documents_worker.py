"""Documents work off the GUI thread: listing, removing, and ingesting with progress.

The ingest thread never touches Qt: it drops progress into a ``ProgressBox`` that the panel
polls on a timer; everything else comes back through queued signals.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

if TYPE_CHECKING:  # numpy and onnxruntime load when documents are first used
    from app.core.docs import FileRecord, IngestJob, IngestReport, Progress


def documents_allowed(policy: Any) -> bool:
    """Whether policy lets this user ask about documents (``documents.enabled``)."""
    return bool(policy.get("documents.enabled"))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def progress_text(p: Progress) -> str:
    """``2 of 10 files · 14 chunks · 1 skipped · about 5 s left``."""
    parts = [f"{p.files_done} of {p.files_total} files", f"{p.chunks} chunks"]
    if p.skipped:
        parts.append(f"{p.skipped} skipped")
    if p.eta_s is not None and p.files_done < p.files_total:
        parts.append(f"about {_duration(p.eta_s)} left")
    return " · ".join(parts)


def report_text(report: IngestReport) -> str:
    """One sentence on how an ingestion ended."""
    added = report.having("indexed")
    chunks = sum(f.chunks for f in added)
    done = f"{len(added)} file(s) added ({chunks} chunks)"
    unchanged = len(report.having("unchanged"))
    if unchanged:
        done += f", {unchanged} already up to date"
    skipped = len(report.having("skipped"))
    if skipped:
        done += f", {skipped} skipped"
    if report.cancelled:
        return f"Cancelled: {done}. What was added before the cancel is kept."
    return f"Done: {done} to “{report.collection}” in {_duration(report.elapsed_s)}."


class ProgressBox:
    """The latest ``Progress``, written by the ingest thread and read by the GUI's timer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Progress | None = None

    def put(self, progress: Progress) -> None:
        """Called on the ingest thread."""
        with self._lock:
            self._latest = progress

    def take(self) -> Progress | None:
        """Called on the GUI thread: the newest progress since the last take, if any."""
        with self._lock:
            latest, self._latest = self._latest, None
            return latest


class DocumentsWorker(QObject):
    """Index work off the GUI thread; results come back as queued signals."""

    listed = Signal(object)  # Listing
    ingest_finished = Signal(object)  # IngestReport
    failed = Signal(str, str)  # message, hint

    def __init__(self, documents: Any) -> None:
        super().__init__()
        self.documents = documents
        self.progress = ProgressBox()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._job: IngestJob | None = None

    def reset_cancel(self) -> None:
        """GUI thread, before it asks for an ingestion (none is running then)."""
        self._cancel.clear()

    def cancel_ingest(self) -> None:
        """GUI thread: stop the running ingestion after its current batch."""
        with self._lock:
            self._cancel.set()
            if self._job is not None:
                self._job.cancel()

    @Slot()
    def refresh(self) -> None:
        """List collections with their files."""
        self._guard(self._list)

    def _list(self) -> None:
        index = self.documents.index()
        files: dict[str, list[FileRecord]] = {}
        for record in index.files():
            files.setdefault(record.collection, []).append(record)
        self.listed.emit([(c, files.get(c.name, [])) for c in index.collections()])

    @Slot(str, str)
    def remove(self, collection: str, path: str) -> None:
        """Remove one file (``path``) or, with an empty path, the whole collection."""
        def work() -> None:
            index = self.documents.index()
            if path:
                index.remove_file(path, collection)
            else:
                index.remove_collection(collection)
            self._list()

        self._guard(work)

    @Slot(object, str, bool)
    def ingest(self, paths: list[Path], collection: str, local_only: bool) -> None:
        """Add files and folders to a collection; blocks this thread, never the GUI's."""
        def work() -> None:
            try:
                index = self.documents.index()
                embedder = self.documents.embedder()
                from app.core.docs import IngestJob

                job = IngestJob(index, embedder, paths, collection, local_only=local_only,
                                on_progress=self.progress.put)
                with self._lock:
                    self._job = job
                    if self._cancel.is_set():
                        job.cancel()  # cancelled while the index or the model was opening
                job.start()
                report = job.wait()
            finally:
                with self._lock:
                    self._job = None
            self.ingest_finished.emit(report)
            self._list()

        self._guard(work)

    def _guard(self, work: Any) -> None:
        from app.ui.workers import run_guarded

        run_guarded(work, self.failed, "The documents index")

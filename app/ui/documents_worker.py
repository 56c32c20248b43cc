"""Documents work off the GUI thread: listing, removing, and ingesting with progress.

Each request is a job on the panel's ``BackgroundLane``: listings, reports, progress and typed
errors come back to the GUI thread as Python objects (see ``app.ui.background``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.ui.background import BackgroundLane, ErrorHandler

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


Listing = list[tuple[Any, list["FileRecord"]]]  # (Collection, its files), as shown


class DocumentsJobs:
    """Index work on the documents lane: list, remove, ingest (with progress and Cancel).

    Args:
        documents: The core's documents service (opens the index and the embedder).
        lane: The panel's lane.
        on_error: Shows a failed job's error (GUI thread).
    """

    def __init__(self, documents: Any, lane: BackgroundLane, on_error: ErrorHandler) -> None:
        self.documents = documents
        self.lane = lane
        self.on_error = on_error
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

    def _listing(self) -> Listing:
        index = self.documents.index()
        files: dict[str, list[FileRecord]] = {}
        for record in index.files():
            files.setdefault(record.collection, []).append(record)
        return [(c, files.get(c.name, [])) for c in index.collections()]

    def refresh(self, on_done: Callable[[Listing], None]) -> None:
        """List collections with their files."""
        self.lane.run(self._listing, on_done=on_done, on_error=self.on_error,
                      what="The documents index")

    def remove(self, collection: str, path: str, on_done: Callable[[Listing], None]) -> None:
        """Remove one file (``path``) or, with an empty path, the whole collection."""
        def work() -> Listing:
            index = self.documents.index()
            if path:
                index.remove_file(path, collection)
            else:
                index.remove_collection(collection)
            return self._listing()

        self.lane.run(work, on_done=on_done, on_error=self.on_error,
                      what="The documents index")

    def ingest(self, paths: list[Path], collection: str, local_only: bool, *,
               on_progress: Callable[[Progress], None],
               on_done: Callable[[IngestReport], None]) -> None:
        """Add files and folders to a collection; blocks the lane's thread, never the GUI's."""
        def work(report: Callable[[Progress], None]) -> IngestReport:
            try:
                index = self.documents.index()
                embedder = self.documents.embedder(index.embedder)
                from app.core.docs import IngestJob

                job = IngestJob(index, embedder, paths, collection, local_only=local_only,
                                on_progress=report)
                with self._lock:
                    self._job = job
                    if self._cancel.is_set():
                        job.cancel()  # cancelled while the index or the model was opening
                job.start()
                ended = job.wait()  # no timeout: None only if the thread outlived the join
                assert ended is not None
                return ended
            finally:
                with self._lock:
                    self._job = None

        self.lane.run(work, on_done=on_done, on_error=self.on_error, on_progress=on_progress,
                      what="The documents index")

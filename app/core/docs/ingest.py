"""Ingestion: files in, chunks with vectors out, one file per transaction.

For each file: read it (within limits), hash it, and stop there if the collection already
holds that content. Otherwise extract, chunk and embed it, and only then write its record,
chunks, vectors and full-text rows in one transaction, so a crash or a cancel never leaves a
file half indexed. A file that cannot be used is recorded as skipped with its reason; the
batch goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from app.core.docs.chunking import Chunk, chunk_sections
from app.core.docs.errors import FileRejected
from app.core.docs.formats import extract
from app.core.docs.index import DocumentIndex, NewChunk
from app.core.docs.source import MAX_FILE_BYTES, Candidate, discover, read_file

log = logging.getLogger(__name__)

Outcome = Literal["indexed", "unchanged", "skipped", "removed"]


class EmbedsTexts(Protocol):
    """What ingestion needs of an embedder."""

    batch_size: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit vectors for ``texts``, one row each."""
        ...


@dataclass(frozen=True)
class Progress:
    """Where an ingestion stands, for a progress bar."""

    files_done: int
    files_total: int
    chunks: int
    current: str | None
    eta_s: float | None
    skipped: int


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file."""

    path: str
    outcome: Outcome
    chunks: int = 0
    reason: str | None = None
    warning: str | None = None


@dataclass
class IngestReport:
    """The result of one ingestion run."""

    collection: str
    files: list[FileOutcome] = field(default_factory=list)
    cancelled: bool = False
    elapsed_s: float = 0.0
    embedded_chunks: int = 0

    def having(self, outcome: Outcome) -> list[FileOutcome]:
        """The files with one outcome."""
        return [f for f in self.files if f.outcome == outcome]


class _Cancelled(Exception):
    pass


class _Run:
    def __init__(
        self,
        index: DocumentIndex,
        embedder: EmbedsTexts,
        collection: str,
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event,
        max_file_bytes: int,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.on_progress = on_progress
        self.cancel = cancel
        self.max_file_bytes = max_file_bytes
        self.report = IngestReport(collection)
        self.started = time.monotonic()
        self.total = 0

    def progress(self, current: str | None) -> None:
        if self.on_progress is None:
            return
        done = len([f for f in self.report.files if f.outcome != "removed"])
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (self.total - done) if done else None
        self.on_progress(Progress(
            files_done=done, files_total=self.total, chunks=self.report.embedded_chunks,
            current=current, eta_s=eta, skipped=len(self.report.having("skipped")),
        ))

    def check(self) -> None:
        if self.cancel.is_set():
            raise _Cancelled

    def one(self, collection_id: int, candidate: Candidate) -> FileOutcome:
        path = candidate.path
        key = str(path)
        previous = self.index.file(collection_id, key)
        try:
            content = read_file(path, max_bytes=self.max_file_bytes)
        except FileRejected as exc:
            self.index.store_file(collection_id, key, sha256=None, size=None, mtime=None,
                                  error=exc.message)
            return FileOutcome(key, "skipped", reason=exc.message)
        if previous is not None and previous.sha256 == content.sha256:
            if previous.status == "skipped":
                return FileOutcome(key, "skipped", reason=previous.error)
            return FileOutcome(key, "unchanged", previous.chunks, warning=previous.warning)
        try:
            extracted = extract(path, content.data)
        except FileRejected as exc:
            self.index.store_file(collection_id, key, sha256=content.sha256, size=content.size,
                                  mtime=content.mtime, error=exc.message)
            return FileOutcome(key, "skipped", reason=exc.message)
        chunks = chunk_sections(extracted.sections)
        if not chunks:
            reason = "no text found"
            self.index.store_file(collection_id, key, sha256=content.sha256, size=content.size,
                                  mtime=content.mtime, error=reason)
            return FileOutcome(key, "skipped", reason=reason)
        vectors = self.embed(chunks)
        warning = "; ".join(extracted.warnings) or None
        rows = [
            NewChunk(c.ordinal, c.text, c.page, c.heading, c.char_start, c.char_end, c.hidden,
                     vectors[i].tobytes())
            for i, c in enumerate(chunks)
        ]
        self.check()  # a cancel during the last batch: write nothing for this file
        self.index.store_file(collection_id, key, sha256=content.sha256, size=content.size,
                              mtime=content.mtime, chunks=rows, warning=warning)
        return FileOutcome(key, "indexed", len(rows), warning=warning)

    def embed(self, chunks: list[Chunk]) -> npt.NDArray[np.float32]:
        texts = [c.text for c in chunks]
        parts = []
        step = max(1, self.embedder.batch_size)
        for start in range(0, len(texts), step):
            self.check()
            parts.append(self.embedder.embed(texts[start : start + step]))
            self.report.embedded_chunks += len(parts[-1])
        return np.concatenate(parts).astype(np.float32, copy=False)

    def prune(self, collection: str, candidates: list[Candidate]) -> None:
        """Forget files that vanished from a folder that was added again."""
        roots = {c.root for c in candidates if c.root is not None}
        present = {str(c.path) for c in candidates}
        for record in self.index.files(collection):
            if record.path in present:
                continue
            if any(record.path.startswith(str(root) + os.sep) for root in roots):
                self.index.remove_file(record.path, collection)
                self.report.files.append(FileOutcome(record.path, "removed"))


def ingest(
    index: DocumentIndex,
    embedder: EmbedsTexts,
    paths: Sequence[Path],
    collection: str,
    *,
    local_only: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> IngestReport:
    """Add files and folders to a collection (created if needed).

    Files whose content is already indexed cost a read and a hash, no embedding. Files that
    disappeared from a folder added again are removed from the collection.

    Args:
        index: the documents index.
        embedder: turns chunk texts into vectors.
        paths: files and folders to add.
        collection: the collection's name.
        local_only: mark the collection as never to leave this machine.
        on_progress: called after each file and each embedding batch's file.
        cancel: set it to stop between files or embedding batches; finished files stay.
        max_file_bytes: files larger than this are skipped.

    Returns:
        What happened to each file.
    """
    cancel = cancel or threading.Event()
    run = _Run(index, embedder, collection, on_progress, cancel, max_file_bytes)
    collection_id = index.ensure_collection(collection, local_only=local_only)
    candidates = discover(paths)
    run.total = len(candidates)
    run.progress(None)
    try:
        for candidate in candidates:
            run.check()
            run.progress(str(candidate.path))
            outcome = run.one(collection_id, candidate)
            run.report.files.append(outcome)
            if outcome.outcome == "skipped":
                log.info("skipped a file: %s", outcome.reason)
            run.progress(None)
        run.check()
        run.prune(collection, candidates)
    except _Cancelled:
        run.report.cancelled = True
    run.report.elapsed_s = time.monotonic() - run.started
    return run.report


class IngestJob:
    """``ingest`` on a background thread: start it, watch progress, cancel, wait."""

    def __init__(
        self,
        index: DocumentIndex,
        embedder: EmbedsTexts,
        paths: Sequence[Path],
        collection: str,
        *,
        local_only: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.cancel_event = threading.Event()
        self.report: IngestReport | None = None
        self.error: BaseException | None = None

        def work() -> None:
            try:
                self.report = ingest(index, embedder, paths, collection, local_only=local_only,
                                     on_progress=on_progress, cancel=self.cancel_event)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                self.error = exc

        self._thread = threading.Thread(target=work, name="docs-ingest", daemon=True)

    def start(self) -> IngestJob:
        """Start the work; returns self."""
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop after the current batch."""
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> IngestReport | None:
        """Wait for the work to end.

        Returns:
            The report, or ``None`` if it is still running after ``timeout``.

        Raises:
            BaseException: whatever stopped the work.
        """
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        if self.error is not None:
            raise self.error
        return self.report

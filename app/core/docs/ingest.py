"""Ingestion: files in, chunks with vectors out, one file per transaction.

For each file: read it (within limits), hash it, and stop there if the collection already
holds that content. Otherwise extract, chunk and embed it, and only then write its record,
chunks, vectors and full-text rows in one transaction, so a crash or a cancel never leaves a
file half indexed. A file that cannot be used is recorded as skipped with its reason; the
batch goes on.

The next files are read and parsed on a thread while the current ones are embedded, and the
chunks of a few files are embedded together, so the embedder's batches are full and sorted by
length even when each file is short. Files are still written, and reported, in order.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from app.core.docs.chunking import Chunk, chunk_sections
from app.core.docs.errors import FileRejected
from app.core.docs.formats import extract
from app.core.docs.index import DocumentIndex, NewChunk
from app.core.docs.source import MAX_FILE_BYTES, Candidate, discover, read_file

log = logging.getLogger(__name__)

Outcome = Literal["indexed", "unchanged", "skipped", "removed"]

# Files read and parsed ahead of the one being embedded (memory: each holds its text).
AHEAD_FILES = 8


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

    @property
    def chunks_per_s(self) -> float:
        """Chunks embedded a second over the whole run (what a progress line reports)."""
        return self.embedded_chunks / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def having(self, outcome: Outcome) -> list[FileOutcome]:
        """The files with one outcome."""
        return [f for f in self.files if f.outcome == outcome]


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class _Prepared:
    """A file read, hashed, extracted and chunked, waiting for its vectors."""

    key: str
    sha256: str
    size: int
    mtime: float
    chunks: list[Chunk]
    warning: str | None


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

    def prepare(self, collection_id: int, candidate: Candidate) -> FileOutcome | _Prepared:
        """Read, hash and (only if its content is new) extract and chunk one file."""
        path = candidate.path
        key = str(path)
        previous = self.index.file(collection_id, key)
        try:
            content = read_file(path, max_bytes=self.max_file_bytes)
        except FileRejected as exc:
            self.index.store_file(collection_id, key, sha256=None, size=None, mtime=None,
                                  error=exc.message)
            return FileOutcome(key, "skipped", reason=exc.message)
        # Before any parsing: content already indexed costs this read and hash, nothing more.
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
        return _Prepared(key, content.sha256, content.size, content.mtime, chunks,
                         "; ".join(extracted.warnings) or None)

    def write(self, collection_id: int, item: _Prepared,
              vectors: npt.NDArray[np.float32]) -> FileOutcome:
        rows = [
            NewChunk(c.ordinal, c.text, c.page, c.heading, c.char_start, c.char_end, c.hidden,
                     vectors[i].tobytes())
            for i, c in enumerate(item.chunks)
        ]
        self.index.store_file(collection_id, item.key, sha256=item.sha256, size=item.size,
                              mtime=item.mtime, chunks=rows, warning=item.warning)
        return FileOutcome(item.key, "indexed", len(rows), warning=item.warning)

    def embed(self, chunks: list[Chunk]) -> npt.NDArray[np.float32]:
        texts = [c.text for c in chunks]
        parts = []
        # Several batches a call when the embedder runs batches side by side.
        step = max(1, self.embedder.batch_size) * max(1, getattr(self.embedder, "parallel", 1))
        for start in range(0, len(texts), step):
            self.check()
            parts.append(self.embedder.embed(texts[start : start + step]))
            self.report.embedded_chunks += len(parts[-1])
        return np.concatenate(parts).astype(np.float32, copy=False)

    def group_size(self) -> int:
        """Chunks worth embedding together: enough to fill every parallel batch twice."""
        return 2 * max(1, self.embedder.batch_size) * max(1, getattr(self.embedder, "parallel", 1))

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


# Long on purpose: the run's order (read ahead, group, embed, write, prune, save) in one place.
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
    made_by = getattr(embedder, "variant", None)
    if made_by is not None and made_by != index.embedder:
        # Only when the index's own copy could not be made (logged where it failed): the
        # vectors still land near, and search still finds them, but say so.
        log.warning("documents: %s vectors added to an index of %s ones", made_by,
                    index.embedder)
    run = _Run(index, embedder, collection, on_progress, cancel, max_file_bytes)
    collection_id = index.ensure_collection(collection, local_only=local_only)
    candidates = discover(paths)
    run.total = len(candidates)
    run.progress(None)
    prepared = _Ahead(run, collection_id, candidates)
    try:
        group: list[_Prepared] = []
        for candidate, item in prepared:
            run.check()
            run.progress(str(candidate.path))
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _Prepared):
                group.append(item)
                if sum(len(g.chunks) for g in group) < run.group_size():
                    continue
                _embed_and_write(run, collection_id, group)
                group = []
            else:
                _embed_and_write(run, collection_id, group)  # keep the files in order
                group = []
                _record(run, item)
        _embed_and_write(run, collection_id, group)
        run.check()
        run.prune(collection, candidates)
        # A large collection's graph was kept up to date in memory; save it while we're here.
        index.ann.settle(collection_id)
    except _Cancelled:
        run.report.cancelled = True
    finally:
        prepared.close()
    run.report.elapsed_s = time.monotonic() - run.started
    return run.report


def _record(run: _Run, outcome: FileOutcome) -> None:
    run.report.files.append(outcome)
    if outcome.outcome == "skipped":
        log.info("skipped a file: %s", outcome.reason)
    run.progress(None)


def _embed_and_write(run: _Run, collection_id: int, group: list[_Prepared]) -> None:
    """Embed a few files' chunks together (batches of similar lengths), then write each."""
    if not group:
        return
    vectors = run.embed([c for item in group for c in item.chunks])
    run.check()  # a cancel during the last batch: write nothing for these files
    at = 0
    for item in group:
        _record(run, run.write(collection_id, item, vectors[at : at + len(item.chunks)]))
        at += len(item.chunks)


class _Ahead:
    """Reads and parses the next files on a thread while the current ones are embedded."""

    def __init__(self, run: _Run, collection_id: int, candidates: list[Candidate]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=AHEAD_FILES)
        self._stop = threading.Event()

        def work() -> None:
            for candidate in candidates:
                if self._stop.is_set() or run.cancel.is_set():
                    break
                try:
                    item: Any = run.prepare(collection_id, candidate)
                except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
                    item = exc
                self._put((candidate, item))
                if isinstance(item, BaseException):
                    break
            self._put(None)

        self._thread = threading.Thread(target=work, name="docs-ingest-read", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple[Candidate, FileOutcome | _Prepared | BaseException]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


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

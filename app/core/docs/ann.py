"""Approximate nearest neighbours: one HNSW graph per large collection, kept encrypted.

A collection above ``retrieve.EXACT_LIMIT`` chunks is searched through an HNSW graph
(``graph.py``) instead of a scan of every vector, so a question costs about the same at a
million chunks as at fifty thousand. Retrieval re-ranks the candidates with the float vectors
and keeps only chunks the database still holds in that collection: a stale graph can cost
recall, never return a removed or foreign chunk.

The graph is derived data, saved inside the encrypted database (``doc_ann`` tables), never in
a file. While loaded it follows every write in the writer-thread step that commits it; while
not, the saved graph's ``watermark`` and the ``doc_ann_removed`` trigger note what changed,
and loading replays that. A graph that is missing, damaged (digest mismatch), of another
format, or whose size disagrees with the collection after replay is rebuilt from the stored
vectors, with a log line saying why; until a graph is ready, that collection is searched
exactly. Loading and building run on background threads, and usearch releases the GIL while
it adds or searches.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from app.core.docs.graph import (
    CONNECTIVITY,
    EXPANSION_SEARCH,
    GraphStats,
    LayeredGraph,
    apply,
    assemble,
    lower_priority,
    matrix,
    new_graph,
    search_depth,
    threads_for,
    usearch_index,
)
from app.core.docs.schema import EMBEDDING_DIM
from app.core.store.database import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")
Query = Callable[[str, Sequence[Any]], list[Any]]
Write = Callable[[Callable[[Connection], T]], T]

FORMAT = f"usearch2-hnsw-i8-cos-d{EMBEDDING_DIM}-m{CONNECTIVITY}"
PART_BYTES = 4 * 1024 * 1024
# Small enough that turning one batch of rows into arrays holds the GIL only briefly.
BUILD_BATCH = 5_000
# Save again once this share changed since the last save (at least the floor): a save
# rewrites the whole graph, and a load replays at most this share of it.
SAVE_SHARE = 0.25
SAVE_FLOOR = 2_000


@dataclass
class _Entry:
    state: str = "starting"  # starting -> loading -> ready | failed
    graph: Any = None
    pending: list[tuple[str, Any, Any]] = field(default_factory=list)
    dirty: int = 0
    saving: bool = False
    save_lock: threading.Lock = field(default_factory=threading.Lock)
    stats: GraphStats = field(default_factory=GraphStats)
    done: threading.Event = field(default_factory=threading.Event)
    failed_stamp: Any = None
    collect: list[tuple[str, Any, Any]] | None = None  # changes during a rebuild


class AnnIndexes:
    """The graphs of one ``DocumentIndex``: loaded on first use, kept up to date by its writes.

    ``added``/``removed`` run on the writer thread inside the transaction making the change;
    ``forget`` drops a graph that followed a transaction which then failed.
    """

    def __init__(self, query: Query, write: Write[Any]) -> None:
        self._query = query
        self._write = write
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self.closed = False

    # -- searching --------------------------------------------------------------------------

    def search(
        self, cid: int, query: npt.NDArray[np.float32], count: int, *, stamp: Any = None,
    ) -> list[int] | None:
        """Candidate chunk ids nearest to ``query``; ``None`` while the graph is not ready.

        The first call for a collection starts loading its graph in the background.
        """
        entry = self._entry(cid, stamp)
        if entry.state != "ready":
            return None
        graph = entry.graph
        if not isinstance(graph, LayeredGraph):
            graph.expansion_search = search_depth(len(graph))
        found = graph.search(np.asarray(query, dtype=np.float32), count, threads=1)
        return [int(k) for k in found.keys]

    def wait(self, cid: int, timeout: float | None = None) -> bool:
        """Start loading ``cid``'s graph if needed and wait for it; True once it is ready."""
        entry = self._entry(cid, None)
        entry.done.wait(timeout)
        return entry.state == "ready"

    def settle(self, cid: int, *, min_changes: int = SAVE_FLOOR) -> bool:
        """Save ``cid``'s graph now (waiting) if that many changes are not saved yet.

        A loaded graph (a view with changes on top) is rebuilt and saved in the background.

        Returns:
            Whether it was saved now.
        """
        with self._lock:
            entry = self._entries.get(cid)
        if entry is None or entry.state != "ready":
            return False
        if isinstance(entry.graph, LayeredGraph):
            if entry.dirty >= min_changes and not entry.saving:
                entry.saving = True
                threading.Thread(target=self._compact, args=(cid, entry), daemon=True).start()
            return False
        with entry.save_lock:
            if entry.dirty < min_changes:
                return False
            self._write(lambda conn: self._save(conn, cid, entry))
        return True

    def stats(self, cid: int) -> GraphStats | None:
        """The loaded graph's figures, if one is loaded."""
        with self._lock:
            entry = self._entries.get(cid)
        if entry is None or entry.state != "ready":
            return None
        entry.stats.vectors = len(entry.graph)
        entry.stats.memory_bytes = int(entry.graph.memory_usage)
        return entry.stats

    def _entry(self, cid: int, stamp: Any) -> _Entry:
        with self._lock:
            entry = self._entries.get(cid)
            if entry is not None and entry.state == "failed" and entry.failed_stamp != stamp:
                entry = None  # the collection changed since the failure: try again
            if entry is None:
                entry = _Entry()
                entry.failed_stamp = stamp
                self._entries[cid] = entry
                threading.Thread(target=self._load, args=(cid, entry), daemon=True,
                                 name=f"docs-ann-{cid}").start()
            return entry

    # -- following writes (writer thread) ---------------------------------------------------

    def added(self, cid: int, ids: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        """Chunks ``ids`` were added to ``cid`` in the transaction being run."""
        self._note(cid, ("add", np.asarray(ids, dtype=np.uint64), vectors))

    def removed(self, cid: int, ids: Sequence[int]) -> None:
        """Chunks ``ids`` were deleted from ``cid`` in the transaction being run."""
        if ids:
            self._note(cid, ("remove", np.asarray(ids, dtype=np.uint64), None))

    def forget(self, cid: int | None = None) -> None:
        """Drop a graph from memory (every graph: ``None``); the next search loads it again."""
        with self._lock:
            if cid is None:
                self._entries.clear()
            else:
                self._entries.pop(cid, None)

    def _note(self, cid: int, change: tuple[str, Any, Any]) -> None:
        with self._lock:
            entry = self._entries.get(cid)
            if entry is None or entry.state in ("starting", "failed"):
                return  # committed before loading reads: the saved graph's marks carry it
            if entry.state == "loading":
                entry.pending.append(change)
                return
            graph = entry.graph
            if entry.collect is not None:
                entry.collect.append(change)
        apply(graph, change)
        entry.dirty += len(change[1])
        if entry.dirty >= max(SAVE_FLOOR, SAVE_SHARE * len(graph)) and not entry.saving:
            entry.saving = True
            # A loaded graph is a read-only view plus changes: it is built whole again first.
            work = self._compact if isinstance(graph, LayeredGraph) else self._save_later
            threading.Thread(target=work, args=(cid, entry), daemon=True,
                             name=f"docs-ann-save-{cid}").start()

    # -- loading, building, saving ------------------------------------------------------------

    def _load(self, cid: int, entry: _Entry) -> None:
        started = time.monotonic()
        lower_priority()
        try:
            # Switched to loading on the writer thread, between two transactions: a write
            # committed before is seen by the reads below, one after is noted as pending.
            self._write(lambda conn: setattr(entry, "state", "loading"))
            graph, how = self._restore(cid)
            if graph is not None:
                expected = self._count(cid)
                with self._lock:
                    # Writes noted while loading make the count a moving target: checked
                    # only when none came (the next load checks again).
                    if not entry.pending and len(graph) != expected:
                        log.warning("documents: collection %d's saved graph holds %d vectors, "
                                    "the collection %d: rebuilding it", cid, len(graph),
                                    expected)
                        graph = None
            if graph is None:
                graph, how = self._build(cid), "built"
            with self._lock:
                for change in entry.pending:
                    apply(graph, change)
                entry.pending.clear()
                entry.graph, entry.state = graph, "ready"
            entry.stats.how = how
            entry.stats.load_s = time.monotonic() - started
            log.info("documents: collection %d's graph %s (%d vectors) in %.1f s", cid, how,
                     len(graph), entry.stats.load_s)
            if how != "loaded":
                entry.dirty = SAVE_FLOOR  # worth saving: it took work to get here
                entry.saving = True
                self._save_later(cid, entry)
        except Exception as exc:  # noqa: BLE001 - any failure means: search exactly instead
            with self._lock:
                entry.state = "failed"
                entry.pending.clear()
            if not self.closed:
                log.warning("documents: collection %d's graph could not be loaded (%s: %s); "
                            "its questions use exact search", cid, type(exc).__name__, exc)
        finally:
            entry.done.set()

    def _restore(self, cid: int) -> tuple[Any, str]:
        """The saved graph with changes since replayed, or ``(None, reason)``."""
        meta = self._query(
            "SELECT format, watermark, parts, bytes, sha256 FROM doc_ann WHERE collection_id = ?",
            (cid,),
        )
        if not meta:
            return None, "no saved graph"
        fmt, watermark, parts, size, digest = meta[0]
        if fmt != FORMAT:
            log.info("documents: collection %d's saved graph is %s, not %s: rebuilding", cid,
                     fmt, FORMAT)
            return None, "other format"
        buffer = assemble(int(size), (row[0] for part in range(int(parts)) for row in self._query(
            "SELECT data FROM doc_ann_parts WHERE collection_id = ? AND part = ?", (cid, part))))
        if buffer is None or hashlib.sha256(buffer.data).hexdigest() != digest:
            log.warning("documents: collection %d's saved graph is damaged (its digest does not "
                        "match): rebuilding it; exact search meanwhile", cid)
            return None, "damaged"
        Index = usearch_index()  # noqa: N806 - a class
        # Viewed in place, not copied: a copy holds the GIL for seconds at a million vectors.
        base = Index.restore(buffer, view=True, expansion_search=EXPANSION_SEARCH)
        if base is None:
            log.warning("documents: collection %d's saved graph cannot be read: rebuilding", cid)
            return None, "unreadable"
        graph = LayeredGraph(base, buffer, new_graph())
        replayed = self._replay(cid, graph, int(watermark))
        return graph, f"loaded+replayed {replayed}" if replayed else "loaded"

    def _replay(self, cid: int, graph: Any, watermark: int) -> int:
        gone = [int(r[0]) for r in self._query(
            "SELECT chunk_id FROM doc_ann_removed WHERE collection_id = ?", (cid,)
        )]
        present = [i for i in gone if graph.contains(i)]
        if present:
            graph.remove(np.asarray(present, dtype=np.uint64))
        # An id deleted since the save may have been given to a new chunk: re-add those too.
        changed = len(gone)
        for ids, vectors in self._vectors(cid, above=watermark, also=gone):
            graph.add(ids, vectors, threads=threads_for(len(ids)))
            changed += len(ids)
        return changed

    def _build(self, cid: int) -> Any:
        graph = new_graph()
        for ids, vectors in self._vectors(cid, above=-1):
            if self.closed:
                raise RuntimeError("the index was closed")
            graph.add(ids, vectors, threads=0)
        return graph

    def _vectors(self, cid: int, *, above: int, also: Sequence[int] = ()) -> Any:
        """The collection's chunk vectors with id > ``above`` (and ids in ``also``), batched."""
        last = above
        while True:
            rows = self._query(
                "SELECT ch.id, ch.vector FROM doc_chunks ch JOIN doc_files f ON f.id = ch.file_id "
                "WHERE f.collection_id = ? AND ch.id > ? ORDER BY ch.id LIMIT ?",
                (cid, last, BUILD_BATCH),
            )
            if not rows:
                break
            last = int(rows[-1][0])
            yield matrix(rows)
        for start in range(0, len(also), 500):
            some = list(also[start : start + 500])
            marks = ",".join("?" * len(some))
            rows = self._query(
                "SELECT ch.id, ch.vector FROM doc_chunks ch JOIN doc_files f ON f.id = ch.file_id "
                f"WHERE f.collection_id = ? AND ch.id <= ? AND ch.id IN ({marks})",
                (cid, above, *some),
            )
            if rows:
                yield matrix(rows)

    def _count(self, cid: int) -> int:
        return int(self._query(
            "SELECT count(*) FROM doc_chunks ch JOIN doc_files f ON f.id = ch.file_id "
            "WHERE f.collection_id = ?", (cid,),
        )[0][0])

    def _compact(self, cid: int, entry: _Entry) -> None:
        """Build the graph whole again from the stored vectors, swap it in, and save it."""
        lower_priority()
        try:
            with entry.save_lock:
                collected: list[tuple[str, Any, Any]] = []

                def collect(conn: Connection) -> None:
                    # Between two transactions: later changes are collected for the new graph.
                    with self._lock:
                        entry.collect = collected

                self._write(collect)
                graph = self._build(cid)
                with self._lock:
                    for change in collected:
                        apply(graph, change)
                    entry.collect = None
                    entry.graph = graph
                self._write(lambda conn: self._save(conn, cid, entry))
        except Exception as exc:  # noqa: BLE001 - the layered graph keeps answering
            entry.collect = None
            if not self.closed:
                log.warning("documents: collection %d's graph could not be rebuilt (%s)", cid,
                            type(exc).__name__)
        finally:
            entry.saving = False

    def _save_later(self, cid: int, entry: _Entry) -> None:
        try:
            with entry.save_lock:
                if not self.closed:
                    self._write(lambda conn: self._save(conn, cid, entry))
        except Exception as exc:  # noqa: BLE001 - the graph stays in memory; saved next time
            if not self.closed:
                log.warning("documents: collection %d's graph could not be saved (%s)", cid,
                            type(exc).__name__)
        finally:
            entry.saving = False

    def _save(self, conn: Connection, cid: int, entry: _Entry) -> None:
        # On the writer thread: no write can change the graph while it is serialised, so the
        # saved bytes and the watermark describe the same moment.
        if entry.state != "ready" or self._entries.get(cid) is not entry:
            return
        if isinstance(entry.graph, LayeredGraph):
            return  # a view cannot be saved; _compact builds one that can
        if conn.execute("SELECT 1 FROM doc_collections WHERE id = ?", (cid,)).fetchone() is None:
            return
        data = entry.graph.save()
        watermark = conn.execute("SELECT coalesce(max(id), 0) FROM doc_chunks").fetchone()[0]
        conn.execute("DELETE FROM doc_ann WHERE collection_id = ?", (cid,))
        parts = (len(data) + PART_BYTES - 1) // PART_BYTES
        conn.execute(
            "INSERT INTO doc_ann (collection_id, format, watermark, vectors, parts, bytes, "
            "sha256, saved) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, FORMAT, int(watermark), len(entry.graph), parts, len(data),
             hashlib.sha256(data).hexdigest(), time.time()),
        )
        view = memoryview(data)
        for part in range(parts):
            conn.execute(
                "INSERT INTO doc_ann_parts (collection_id, part, data) VALUES (?, ?, ?)",
                (cid, part, view[part * PART_BYTES : (part + 1) * PART_BYTES]),
            )
        entry.dirty = 0



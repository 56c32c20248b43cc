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
it adds or searches. Each graph is kept in shards (``shards.py``) so that saving one, which
holds the GIL, stays short; each shard is loaded, checked, rebuilt and saved on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from app.core.docs import shards, stored
from app.core.docs.graph import GraphStats, apply, lower_priority, new_graph, threads_for
from app.core.docs.shards import Shard, ShardedGraph
from app.core.store.database import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")
Query = Callable[[str, Sequence[Any]], list[Any]]
Write = Callable[[Callable[[Connection], T]], T]

# Save a shard again once this share of it changed since its last save (at least the floor):
# a save rewrites the whole shard, and a load replays at most this share of it.
SAVE_SHARE = 0.25
SAVE_FLOOR = 2_000


@dataclass
class _Entry:
    state: str = "starting"  # starting -> loading -> ready | failed
    graph: Any = None
    pending: list[tuple[str, Any, Any]] = field(default_factory=list)
    saving: bool = False
    save_lock: threading.Lock = field(default_factory=threading.Lock)
    stats: GraphStats = field(default_factory=GraphStats)
    done: threading.Event = field(default_factory=threading.Event)
    failed_stamp: Any = None
    collect: list[tuple[str, Any, Any]] | None = None  # changes during a shard's rebuild


def _due(shard: Shard, least: int | None) -> bool:
    """Whether a shard is worth saving (a layered one: rebuilding and saving) now."""
    need = max(SAVE_FLOOR, SAVE_SHARE * len(shard.graph)) if least is None else least
    return shard.dirty >= need and (shard.dirty > 0 or not shard.layered)


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
        self._searchers = shards.Searchers()
        self.closed = False

    def close(self) -> None:
        """Stop: graphs being loaded or saved give up, searching threads end."""
        self.closed = True
        self._searchers.close()

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
        found = graph.search(np.asarray(query, dtype=np.float32), count, threads=1,
                             searchers=self._searchers)
        return [int(k) for k in found.keys]

    def wait(self, cid: int, timeout: float | None = None) -> bool:
        """Start loading ``cid``'s graph if needed and wait for it; True once it is ready."""
        entry = self._entry(cid, None)
        entry.done.wait(timeout)
        return entry.state == "ready"

    def settle(self, cid: int, *, min_changes: int = SAVE_FLOOR) -> bool:
        """Save ``cid``'s shards now (waiting) that have that many changes not saved yet.

        A loaded shard (a view with changes on top) is rebuilt and saved in the background.

        Returns:
            Whether it was saved now.
        """
        with self._lock:
            entry = self._entries.get(cid)
        if entry is None or entry.state != "ready":
            return False
        layered = max(min_changes, 1)
        if any(s.layered and _due(s, layered) for s in entry.graph.shards):
            if not entry.saving:
                entry.saving = True
                threading.Thread(target=self._refresh, args=(cid, entry, min_changes, layered),
                                 daemon=True).start()
            return False
        return self._refresh(cid, entry, min_changes, layered, background=False)

    def stats(self, cid: int) -> GraphStats | None:
        """The loaded graph's figures, if one is loaded."""
        with self._lock:
            entry = self._entries.get(cid)
        if entry is None or entry.state != "ready":
            return None
        entry.stats.vectors = len(entry.graph)
        entry.stats.shards = len(entry.graph.shards)
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
        if not entry.saving and any(_due(s, None) for s in graph.shards):
            entry.saving = True
            # A loaded shard is a read-only view plus changes: it is built again first.
            threading.Thread(target=self._refresh, args=(cid, entry, None, None), daemon=True,
                             name=f"docs-ann-save-{cid}").start()

    # -- loading, building, saving ------------------------------------------------------------

    def _load(self, cid: int, entry: _Entry) -> None:
        started = time.monotonic()
        lower_priority()
        try:
            # Switched to loading on the writer thread, between two transactions: a write
            # committed before is seen by the reads below, one after is noted as pending.
            self._write(lambda conn: setattr(entry, "state", "loading"))
            graph, how = self._restore(cid, entry)
            if graph is None:
                graph, how = self._build(cid), "built"
            with self._lock:
                for change in entry.pending:
                    apply(graph, change)
                entry.pending.clear()
                entry.graph, entry.state = graph, "ready"
                entry.saving = True  # what was built took work: saved below
            entry.stats.how = how
            entry.stats.load_s = time.monotonic() - started
            log.info("documents: collection %d's graph %s (%d vectors, %d shards) in %.1f s",
                     cid, how, len(graph), len(graph.shards), entry.stats.load_s)
            self._refresh(cid, entry, 1, None)
        except Exception as exc:  # noqa: BLE001 - any failure means: search exactly instead
            with self._lock:
                entry.state = "failed"
                entry.pending.clear()
            if not self.closed:
                log.warning("documents: collection %d's graph could not be loaded (%s: %s); "
                            "its questions use exact search", cid, type(exc).__name__, exc)
        finally:
            entry.done.set()

    def _restore(self, cid: int, entry: _Entry) -> tuple[ShardedGraph | None, str]:
        """The saved shards with changes since replayed (bad ones rebuilt), or ``(None, why)``."""
        rows = shards.saved(self._query, cid)
        if not rows or int(rows[0][1]) != 0 or [int(r[0]) for r in rows] != list(range(len(rows))):
            return None, "no saved graph"
        graph = ShardedGraph([Shard(int(r[1]), None, watermark=int(r[3]), top=int(r[3]))
                              for r in rows])
        bad = []
        for i, row in enumerate(rows):
            graph.shards[i].graph, why = shards.open_saved(self._query, cid, row)
            if graph.shards[i].graph is None:
                log.warning("documents: collection %d's saved graph shard %d is %s: rebuilding "
                            "it; exact search meanwhile", cid, i, why)
                graph.shards[i].graph = new_graph()
                bad.append(i)
        replayed = sum(self._replay(cid, graph, i) for i in range(len(rows)) if i not in bad)
        for i in range(len(graph.shards)):
            with self._lock:
                # Writes noted while loading make the count a moving target: checked only
                # when none came (the next load checks again).
                moving = bool(entry.pending)
            if i not in bad and not moving and len(graph.shards[i].graph) != stored.count(
                    self._query, cid, *graph.bounds(i)):
                log.warning("documents: collection %d's saved graph shard %d holds %d vectors, "
                            "the collection another number: rebuilding it", cid, i,
                            len(graph.shards[i].graph))
                bad.append(i)
        for i in bad:
            graph.shards[i].graph = self._build_range(cid, *graph.bounds(i))
            graph.shards[i].dirty = max(1, len(graph.shards[i].graph))
        if len(bad) == len(graph.shards):
            return graph, "built"
        how = f"loaded+replayed {replayed}" if replayed else "loaded"
        return graph, how + (f", {len(bad)} of {len(graph.shards)} shards rebuilt" if bad else "")

    def _replay(self, cid: int, graph: ShardedGraph, i: int) -> int:
        low, high = graph.bounds(i)
        watermark = graph.shards[i].watermark
        gone = [int(r[0]) for r in self._query(
            "SELECT chunk_id FROM doc_ann_removed WHERE collection_id = ? AND chunk_id >= ? "
            "AND chunk_id < ?", (cid, low, high),
        )]
        present = [k for k in gone if graph.contains(k)]
        if present:
            graph.remove(np.asarray(present, dtype=np.uint64))
        # An id deleted since the save may have been given to a new chunk: re-add those too.
        changed = len(gone)
        for ids, vectors in stored.batches(self._query, cid, above=max(watermark, low - 1),
                                           below=high, also=gone):
            graph.add(ids, vectors, threads=threads_for(len(ids)))
            changed += len(ids)
        return changed

    def _build(self, cid: int) -> ShardedGraph:
        """The whole collection's graph, cut into shards as it grows."""
        graph = ShardedGraph()
        for ids, vectors in stored.batches(self._query, cid, above=-1):
            if self.closed:
                raise RuntimeError("the index was closed")
            graph.add(ids, vectors, threads=0)
        return graph

    def _build_range(self, cid: int, low: int, high: int) -> Any:
        """One shard's graph, from the stored vectors in its range."""
        graph = new_graph()
        for ids, vectors in stored.batches(self._query, cid, above=low - 1, below=high):
            if self.closed:
                raise RuntimeError("the index was closed")
            graph.add(ids, vectors, threads=0)
        return graph

    def _refresh(self, cid: int, entry: _Entry, plain: int | None, layered: int | None, *,
                 background: bool = True) -> bool:
        """Save each shard due (``_due``); a loaded one is built again first. Saved any?"""
        if background:
            lower_priority()
        done = False
        try:
            with entry.save_lock:
                i = 0
                while i < len(entry.graph.shards) and not self.closed:
                    shard = entry.graph.shards[i]
                    if shard.layered and _due(shard, layered):
                        self._rebuild(cid, entry, i)
                    elif shard.layered or not _due(shard, plain):
                        i += 1
                        continue
                    # One write a shard: the GUI and other writes run between two saves.
                    done = self._write(self._saver(cid, entry, i)) or done
                    i += 1
        except Exception as exc:  # noqa: BLE001 - the graph stays in memory; saved next time
            entry.collect = None
            if not self.closed:
                log.warning("documents: collection %d's graph could not be saved (%s: %s)", cid,
                            type(exc).__name__, exc)
        finally:
            if background:  # the flag of the thread that runs this
                entry.saving = False
        return done

    def _rebuild(self, cid: int, entry: _Entry, i: int) -> None:
        """Build shard ``i`` again from the stored vectors and swap it in."""
        collected: list[tuple[str, Any, Any]] = []

        def collect(conn: Connection) -> None:
            # Between two transactions: later changes are collected for the new shard.
            with self._lock:
                entry.collect = collected

        self._write(collect)
        fresh = self._build_range(cid, *entry.graph.bounds(i))
        with self._lock:
            graph = entry.graph
            for kind, ids, vectors in collected:
                inside = graph.within(i, ids)
                # Keys that went to a shard started meanwhile may have been read: not here.
                outside = [int(k) for k in ids[~inside] if fresh.contains(int(k))]
                if outside:
                    fresh.remove(np.asarray(outside, dtype=np.uint64))
                if inside.any():
                    apply(fresh, (kind, ids[inside], None if vectors is None else vectors[inside]))
            entry.collect = None
            graph.shards[i].graph = fresh
            graph.shards[i].dirty = max(1, len(fresh))

    def _saver(self, cid: int, entry: _Entry, i: int) -> Callable[[Connection], bool]:
        return lambda conn: self._save(conn, cid, entry, i)

    def _save(self, conn: Connection, cid: int, entry: _Entry, i: int) -> bool:
        # On the writer thread: no write can change the shard while it is serialised, so the
        # saved bytes and the watermark describe the same moment.
        if entry.state != "ready" or self._entries.get(cid) is not entry:
            return False
        if entry.graph.shards[i].layered:
            return False  # a view cannot be saved; _rebuild builds one that can
        if conn.execute("SELECT 1 FROM doc_collections WHERE id = ?", (cid,)).fetchone() is None:
            return False
        shards.save(conn, cid, entry.graph, i)
        return True

"""A collection's graph in shards of at most ``SHARD_LIMIT`` vectors, each saved on its own.

usearch's ``save`` holds the GIL for its whole run (≈24 ms per 63 MiB, bench/README.md), so
one graph of a million vectors froze the GUI thread for ≈250 ms whenever it was saved. Split
into shards, each save is one short hold, and the GUI runs between them.

A shard covers a range of chunk ids: from its ``low`` up to the next shard's ``low`` (the last
one, upwards). New chunks get ids above every existing one, so they go to the last shard
until it is full, then start a new one; a removal goes to the shard whose range holds the id.
Because the ranges come from the ids, a shard can be rebuilt from the stored vectors alone.
A search asks every shard and merges their answers by distance.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.docs.graph import (
    CONNECTIVITY,
    EXPANSION_SEARCH,
    LayeredGraph,
    assemble,
    new_graph,
    search_depth,
    usearch_index,
)
from app.core.docs.schema import EMBEDDING_DIM
from app.core.store.database import Connection

# Measured (bench/README.md, "Graph shards"): a 50,000-vector shard (31 MiB) saves in 11-41 ms,
# but 154 ms when its output buffer is fresh memory (``prefault``); smaller shards cost more
# searches.
SHARD_LIMIT = 50_000
# "-linked": saved since every added vector is checked to be reachable (graph.relink); a
# shard saved before may hold vectors no search reaches, so it is rebuilt once.
FORMAT = f"usearch2-hnsw-i8-cos-d{EMBEDDING_DIM}-m{CONNECTIVITY}-linked"
PART_BYTES = 4 * 1024 * 1024
TOP_ID = 2**63 - 1

Query = Callable[[str, Sequence[Any]], list[Any]]


@dataclass
class Shard:
    """One graph of a collection and the chunk ids it covers (from ``low``)."""

    low: int
    graph: Any
    watermark: int = -1  # chunk ids above it were added after this shard was saved
    dirty: int = 0  # changes not saved yet
    top: int = -1  # no key above it: a new shard must start higher

    @property
    def layered(self) -> bool:
        """Whether it is a saved graph viewed in place (which cannot be saved again)."""
        return isinstance(self.graph, LayeredGraph)


class ShardedGraph:
    """The parts of ``usearch.Index`` that ``ann.py`` uses, over a list of shards."""

    def __init__(self, shards: list[Shard] | None = None) -> None:
        self.shards = shards or [Shard(0, new_graph())]

    def __len__(self) -> int:
        return sum(len(s.graph) for s in self.shards)

    @property
    def memory_usage(self) -> int:
        """Bytes held by every shard."""
        return sum(int(s.graph.memory_usage) for s in self.shards)

    def bounds(self, i: int) -> tuple[int, int]:
        """The chunk ids shard ``i`` covers: ``low <= id < high``."""
        high = self.shards[i + 1].low if i + 1 < len(self.shards) else TOP_ID
        return self.shards[i].low, high

    def _route(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
        lows = np.asarray([s.low for s in self.shards], dtype=np.int64)
        where = np.searchsorted(lows, keys.astype(np.int64), side="right") - 1
        return np.maximum(where, 0)

    def contains(self, key: int) -> bool:
        """Whether ``key`` is in the shard that covers it."""
        # Called once a key for every write: bisect, not numpy, for a single key.
        i = bisect.bisect_right([s.low for s in self.shards], key) - 1
        return bool(self.shards[max(i, 0)].graph.contains(key))

    def add(self, keys: Any, vectors: Any, *, threads: int = 0) -> None:
        """Add each vector to the shard covering its key; the last one is filled, then split."""
        keys = np.asarray(keys, dtype=np.uint64)
        where = self._route(keys)
        for i in np.unique(where):
            chosen = where == i
            if int(i) == len(self.shards) - 1:
                self._add_last(keys[chosen], vectors[chosen], threads)
            else:
                self._add_to(self.shards[int(i)], keys[chosen], vectors[chosen], threads)

    def _add_last(self, keys: Any, vectors: Any, threads: int) -> None:
        order = np.argsort(keys, kind="stable")
        keys, vectors = keys[order], vectors[order]
        start = 0
        while start < len(keys):
            last = self.shards[-1]
            room = SHARD_LIMIT - len(last.graph)
            if room <= 0 and int(keys[start]) > last.top:
                self.shards.append(Shard(int(keys[start]), new_graph()))
                continue
            # A key not above the full shard's highest stays in its range: added there anyway.
            end = len(keys) if room <= 0 else start + room
            self._add_to(last, keys[start:end], vectors[start:end], threads)
            start = end

    @staticmethod
    def _add_to(shard: Shard, keys: Any, vectors: Any, threads: int) -> None:
        shard.graph.add(keys, np.ascontiguousarray(vectors), threads=threads)
        shard.dirty += len(keys)
        shard.top = max(shard.top, int(keys.max()))

    def remove(self, keys: Any) -> None:
        """Remove keys (which the graph holds) from the shards covering them."""
        keys = np.asarray(keys, dtype=np.uint64)
        where = self._route(keys)
        for i in np.unique(where):
            shard = self.shards[int(i)]
            shard.graph.remove(keys[where == i])
            shard.dirty += int((where == i).sum())

    def search(self, query: npt.NDArray[np.float32], count: int, *, threads: int = 1,
               searchers: Searchers | None = None) -> Any:
        """The ``count`` nearest keys over every shard (``.keys``, nearest first).

        With ``searchers``, shards are searched side by side (usearch releases the GIL while
        it searches): at a million vectors the 20 searches were half of a question's time.
        (Taken out once when a shard test missed a chunk's own vector; that was usearch
        leaving vectors unlinked, ``graph.relink``, not the threads: bench/README.md.)
        """
        live = [s for s in self.shards if len(s.graph)]

        def one(shard: Shard) -> list[tuple[float, int]]:
            graph = shard.graph
            if not shard.layered:  # a layered graph sets its own depth
                graph.expansion_search = search_depth(len(graph))
            some = graph.search(query, count, threads=threads)
            return [(float(d), int(k)) for k, d in zip(some.keys, some.distances, strict=True)]

        pool = searchers.pool() if searchers is not None and len(live) > 1 else None
        try:
            parts = list(pool.map(one, live)) if pool is not None else None
        except RuntimeError:  # the index closed meanwhile: no new work for its threads
            parts = None
        found = sorted(pair for part in (parts or map(one, live)) for pair in part)
        return _Found([k for _, k in found[:count]])

    def within(self, i: int, keys: Any) -> npt.NDArray[np.bool_]:
        """Which of ``keys`` shard ``i`` covers."""
        low, high = self.bounds(i)
        keys = np.asarray(keys, dtype=np.int64)
        inside: npt.NDArray[np.bool_] = (keys >= low) & (keys < high)
        return inside


class Searchers:
    """Threads that search shards side by side, one a core (at most 4).

    Made on first use, stopped by ``close`` (the documents index's); after that, shards are
    searched one after another on the caller's thread.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._lock = threading.Lock()

    def pool(self) -> ThreadPoolExecutor | None:
        """The threads, or None once closed."""
        with self._lock:
            if self._pool is None and not self._closed:
                self._pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                                thread_name_prefix="enclave-shard-search")
            return self._pool

    def close(self) -> None:
        """Let running searches finish and end the threads."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True)


class _Found:
    def __init__(self, keys: list[int]) -> None:
        self.keys = np.asarray(keys, dtype=np.uint64)


def saved(query: Query, cid: int) -> list[Any]:
    """The saved shards' rows: ``(shard, low, format, watermark, parts, bytes, sha256)``."""
    return query(
        "SELECT shard, low, format, watermark, parts, bytes, sha256 FROM doc_ann_shards "
        "WHERE collection_id = ? ORDER BY shard", (cid,),
    )


def open_saved(query: Query, cid: int, row: Sequence[Any]) -> tuple[Any, str]:
    """A saved shard viewed in place (a ``LayeredGraph``), or ``(None, why not)``."""
    shard, _low, fmt, _watermark, parts, size, digest = row
    if fmt != FORMAT:
        return None, f"of another format ({fmt})"
    buffer = assemble(int(size), (r[0] for part in range(int(parts)) for r in query(
        "SELECT data FROM doc_ann_parts WHERE collection_id = ? AND shard = ? AND part = ?",
        (cid, shard, part))))
    if buffer is None or hashlib.sha256(buffer.data).hexdigest() != digest:
        return None, "damaged (its digest does not match)"
    Index = usearch_index()  # noqa: N806 - a class
    # Viewed in place, not copied: a copy holds the GIL for its whole run.
    base = Index.restore(buffer, view=True, expansion_search=EXPANSION_SEARCH)
    if base is None:
        return None, "unreadable"
    return LayeredGraph(base, buffer, new_graph()), "loaded"


def prefault(size: int) -> None:
    """Ready ``size`` bytes of memory for the next allocation of that size, outside the GIL.

    usearch's ``save`` allocates its output and writes it with the GIL held; when that memory
    is fresh, every page faults in (slow in virtual machines) and the GUI waited up to 154 ms
    for a 31 MiB shard. Two rounds of allocate, fill (numpy releases the GIL) and free leave
    the allocator holding touched pages of that size (glibc raises its mmap threshold after
    the first free, so the second comes from the heap and stays there), which the save then
    reuses: 40-45 ms stalls became 11 ms (bench/README.md). Elsewhere it is wasted work only.
    """
    for _ in range(2):
        scratch = np.empty(size, dtype=np.uint8)
        scratch.fill(0)
        del scratch


def save(conn: Connection, cid: int, graph: ShardedGraph, i: int) -> None:
    """Save shard ``i`` (on the writer thread, so the bytes and watermark agree)."""
    shard = graph.shards[i]
    prefault(int(shard.graph.serialized_length))
    data = shard.graph.save()  # holds the GIL: at most one shard's worth
    watermark = int(conn.execute("SELECT coalesce(max(id), 0) FROM doc_chunks").fetchone()[0])
    now = time.time()
    conn.execute(
        "INSERT INTO doc_ann (collection_id, format, watermark, vectors, parts, bytes, sha256, "
        "saved) VALUES (?, ?, ?, 0, 0, 0, '', ?) ON CONFLICT (collection_id) DO NOTHING",
        (cid, FORMAT, watermark, now),
    )
    # Shards past the last one are left from a graph before a whole rebuild.
    conn.execute("DELETE FROM doc_ann_shards WHERE collection_id = ? AND (shard = ? OR shard >= ?)",
                 (cid, i, len(graph.shards)))
    parts = (len(data) + PART_BYTES - 1) // PART_BYTES
    conn.execute(
        "INSERT INTO doc_ann_shards (collection_id, shard, low, format, watermark, vectors, "
        "parts, bytes, sha256, saved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (cid, i, shard.low, FORMAT, watermark, len(shard.graph), parts, len(data),
         hashlib.sha256(data).hexdigest(), now),
    )
    view = memoryview(data)
    for part in range(parts):
        conn.execute(
            "INSERT INTO doc_ann_parts (collection_id, shard, part, data) VALUES (?, ?, ?, ?)",
            (cid, i, part, view[part * PART_BYTES : (part + 1) * PART_BYTES]),
        )
    low, high = graph.bounds(i)
    # The removals in this shard's range are in the bytes just saved.
    conn.execute("DELETE FROM doc_ann_removed WHERE collection_id = ? AND chunk_id >= ? "
                 "AND chunk_id < ?", (cid, low, high))
    conn.execute(
        "UPDATE doc_ann SET format = ?, saved = ?, (watermark, vectors, parts, bytes) = "
        "(SELECT max(watermark), sum(vectors), count(*), sum(bytes) FROM doc_ann_shards "
        "WHERE collection_id = ?) WHERE collection_id = ?", (FORMAT, now, cid, cid),
    )
    shard.dirty, shard.watermark = 0, watermark

"""The graph itself: usearch's HNSW index, its settings, and a saved graph read in place.

Turning a saved usearch graph back into a mutable one copies it with the GIL held: 3.6 s for
a million vectors, during which the GUI thread cannot run. Viewing the saved bytes instead
takes milliseconds, but a view cannot change. So a loaded graph is a ``LayeredGraph``: the
view (``base``), a small mutable graph of the chunks added since (``tail``), and the ids
removed from the view since (``gone``, filtered out of its answers). When enough has
changed, ``ann.py`` builds that shard (``shards.py``) again in the background and saves it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.docs.schema import EMBEDDING_DIM

log = logging.getLogger(__name__)

# Measured (bench/README.md): with re-ranking, M = 32 and a search depth of 160 gave
# recall@10 0.956 against exact search at 100,000 chunks, just at the 0.95 goal; 256 leaves
# room for a million. M = 16 gave 0.77 where M = 32 gave 0.93 in a 20,000-vector trial.
CONNECTIVITY = 32
EXPANSION_ADD = 128
EXPANSION_SEARCH = 256
# A larger graph needs a deeper search for the same recall: in a 300,000-vector trial depth
# 256 gave 0.88, 512 gave 0.94 and 1,024 gave 0.97 (search p95 1.4, 3.1 and 4.9 ms).
DEPTH_PER_VECTORS = 250
MAX_DEPTH = 4096


def search_depth(vectors: int) -> int:
    """How deep to search a graph of this many vectors."""
    return int(min(MAX_DEPTH, max(EXPANSION_SEARCH, vectors // DEPTH_PER_VECTORS)))
# Adds this large use every core; single files' chunks take one thread on the writer.
PARALLEL_ADD = 256


def threads_for(n: int) -> int:
    """Threads for adding ``n`` vectors (0: every core)."""
    return 0 if n >= PARALLEL_ADD else 1


def usearch_index() -> Any:
    """The ``Index`` class of usearch, imported after onnxruntime.

    onnxruntime's extension crashes the process (SIGSEGV) when it is imported after usearch's
    is loaded (onnxruntime 1.32, usearch 2.26); the other order is fine, so it goes first.
    """
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


def new_graph() -> Any:
    """An empty mutable graph with the settings above, every vector added to it reachable."""
    return _linked_index()(ndim=EMBEDDING_DIM, metric="cos", dtype="i8",
                           connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD,
                           expansion_search=EXPANSION_SEARCH)


# usearch 2.26's add on several threads can store a vector that no search ever reaches
# (USearch issue #735, fix not released): 63 of 50,000 here, 1 in 4 fresh 500-vector
# shards, so a chunk could never be found by meaning. Each vector just added is looked
# for itself at a shallow depth (13-17 % of the add's time, bench/README.md), and those not
# found are added again on one thread, which links them; a few false alarms cost a re-add.
LINK_CHECK_DEPTH = 16
LINK_CHECK_COUNT = 2


@functools.cache
def _linked_index() -> Any:
    """The ``Index`` of usearch, whose multi-threaded ``add`` leaves no vector unreachable."""
    Index = usearch_index()  # noqa: N806 - a class

    class LinkedIndex(Index):  # type: ignore[misc, valid-type]
        def add(self, keys: Any, vectors: Any, *, threads: int = 0, **kwargs: Any) -> Any:
            added = super().add(keys, vectors, threads=threads, **kwargs)
            if threads != 1 and keys is not None and np.size(keys) > 1:
                relink(self, np.asarray(keys, dtype=np.uint64), vectors, threads)
            return added

    return LinkedIndex


def relink(graph: Any, keys: npt.NDArray[np.uint64], vectors: Any, threads: int) -> int:
    """Add again, on one thread, those of ``keys`` a search for their own vector misses.

    The depth is set on the graph itself (usearch takes no depth per search): a question
    searching this graph at that moment searches shallower once; a search sets its depth
    before each call, so the next one is whole again.

    Returns:
        How many were added again.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), -1)
    depth = graph.expansion_search
    graph.expansion_search = LINK_CHECK_DEPTH
    try:
        found = graph.search(vectors, LINK_CHECK_COUNT, threads=threads)
    finally:
        graph.expansion_search = depth
    missed = ~(np.asarray(found.keys).reshape(len(keys), -1) == keys[:, None]).any(axis=1)
    again = int(missed.sum())
    if again:
        graph.remove(keys[missed])
        graph.add(keys[missed], vectors[missed], threads=1)
        log.debug("documents: %d of %d vectors added again to link them", again, len(keys))
    return again


def matrix(rows: list[Any]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
    """``(id, vector blob)`` rows as keys and a float32 matrix."""
    ids = np.fromiter((int(r[0]) for r in rows), dtype=np.uint64, count=len(rows))
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
    return ids, vectors.reshape(len(rows), EMBEDDING_DIM)


def assemble(size: int, parts: Iterable[bytes]) -> npt.NDArray[np.uint8] | None:
    """A saved graph's parts in one buffer of ``size`` bytes, or None if they do not add up.

    The buffer is allocated once, uninitialised (the kernel maps zero pages as they are
    written), and filled a part at a time. Growing a ``bytearray`` instead reallocated it,
    and each reallocation copied everything so far with the GIL held: 60-120 ms stalls of
    the GUI thread at 640 MiB (bench/README.md).
    """
    buffer = np.empty(size, dtype=np.uint8)
    at = 0
    for part in parts:
        data = np.frombuffer(part, dtype=np.uint8)
        if at + len(data) > size:
            return None
        buffer[at : at + len(data)] = data
        at += len(data)
    return buffer if at == size else None


def apply(graph: Any, change: tuple[str, Any, Any]) -> None:
    """Apply one noted change (``("add", ids, vectors)`` or ``("remove", ids, None)``)."""
    kind, ids, vectors = change
    if kind == "remove":
        present = [int(i) for i in ids if graph.contains(int(i))]
        if present:
            graph.remove(np.asarray(present, dtype=np.uint64))
        return
    fresh = np.asarray([not graph.contains(int(i)) for i in ids], dtype=bool)
    if not fresh.all():  # already there (seen while loading): replace, not duplicate
        graph.remove(np.asarray(ids[~fresh], dtype=np.uint64))
    graph.add(ids, vectors, threads=threads_for(len(ids)))


def lower_priority() -> None:
    """Let the GUI and generation go first: building a graph is background work."""
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        # On Linux a thread's nice value is its own, and the threads it starts inherit it.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


@dataclass
class GraphStats:
    """What a graph cost, for ``docs`` reports and the bench."""

    vectors: int = 0
    shards: int = 0
    memory_bytes: int = 0
    load_s: float = 0.0
    how: str = ""  # "loaded", "loaded+replayed N", "built"; ", K of N shards rebuilt"


class LayeredGraph:
    """The parts of ``usearch.Index`` that ``ann.py`` uses, over a view and a tail."""

    def __init__(self, base: Any, buffer: Any, tail: Any) -> None:
        self.base = base
        self._buffer = buffer  # the view reads these bytes: they live as long as it does
        self.tail = tail
        self.gone: set[int] = set()

    def __len__(self) -> int:
        return len(self.base) - len(self.gone) + len(self.tail)

    @property
    def memory_usage(self) -> int:
        """Bytes held: the viewed buffer and the tail graph."""
        return len(self._buffer) + int(self.tail.memory_usage)

    @property
    def changes(self) -> int:
        """How much differs from the view."""
        return len(self.gone) + len(self.tail)

    def contains(self, key: int) -> bool:
        """Whether ``key`` is in the graph now."""
        if self.tail.contains(key):
            return True
        return key not in self.gone and bool(self.base.contains(key))

    def add(self, keys: npt.NDArray[np.uint64], vectors: Any, *, threads: int = 0) -> None:
        """Add vectors (to the tail); a key the view still holds is hidden there first."""
        for key in keys:
            if self.base.contains(int(key)):
                self.gone.add(int(key))
        self.tail.add(keys, vectors, threads=threads)

    def remove(self, keys: npt.NDArray[np.uint64]) -> None:
        """Remove keys from whichever part holds them."""
        in_tail = [int(k) for k in keys if self.tail.contains(int(k))]
        if in_tail:
            self.tail.remove(np.asarray(in_tail, dtype=np.uint64))
        self.gone.update(int(k) for k in keys if self.base.contains(int(k)))

    def search(self, query: npt.NDArray[np.float32], count: int, *, threads: int = 1) -> Any:
        """The ``count`` nearest keys of both parts (``.keys``, ``.distances``, nearest first)."""
        found: list[tuple[float, int]] = []
        self.base.expansion_search = self.tail.expansion_search = search_depth(len(self))
        # Removed keys still stand in the view: ask for more so enough remain.
        base = self.base.search(query, count + min(len(self.gone), count), threads=threads)
        found += [(float(d), int(k)) for k, d in zip(base.keys, base.distances, strict=True)
                  if int(k) not in self.gone]
        if len(self.tail):
            tail = self.tail.search(query, count, threads=threads)
            found += [(float(d), int(k)) for k, d in zip(tail.keys, tail.distances, strict=True)]
        found.sort()
        return _Found(np.asarray([k for _, k in found[:count]], dtype=np.uint64),
                      np.asarray([d for d, _ in found[:count]], dtype=np.float32))


class _Found:
    def __init__(self, keys: npt.NDArray[np.uint64], distances: npt.NDArray[np.float32]) -> None:
        self.keys = keys
        self.distances = distances

"""A collection's stored chunk vectors, read in batches for building or replaying a graph.

The float vectors live in ``doc_chunks`` beside the text (schema.py); a graph (ann.py) is
built from them, a shard from the ids in its range (shards.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from app.core.docs.graph import matrix
from app.core.docs.shards import TOP_ID, Query

Batch = tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]

# Small enough that turning one batch of rows into arrays holds the GIL only briefly.
BUILD_BATCH = 5_000


def batches(query: Query, cid: int, *, above: int, below: int = TOP_ID,
            also: Sequence[int] = ()) -> Iterator[Batch]:
    """The collection's chunk vectors with ``above < id < below`` (and ``also``), batched."""
    # Each batch walks chunk ids upwards from the last one, keeping the collection's: a
    # join from its files instead read and sorted every chunk of the collection for each
    # batch (85-96 s of a 1M rebuild, bench/README.md). The walk stays within the
    # collection's own lowest and highest ids, so other collections' chunks beyond them
    # are never read.
    bounds = span(query, cid, above, below)
    last, top = (above, -1) if bounds is None else (bounds[0] - 1, bounds[1])
    while last < top:
        # "+" keeps SQLite from looking chunks up by file: the id range drives the walk.
        rows = query(
            "SELECT ch.id, ch.vector FROM doc_chunks ch WHERE ch.id > ? AND ch.id <= ? AND "
            "+ch.file_id IN (SELECT id FROM doc_files WHERE collection_id = ?) "
            "ORDER BY ch.id LIMIT ?",
            (last, top, cid, BUILD_BATCH),
        )
        if not rows:
            break
        last = int(rows[-1][0])
        yield matrix(rows)
    for start in range(0, len(also), 500):
        some = list(also[start : start + 500])
        marks = ",".join("?" * len(some))
        rows = query(
            "SELECT ch.id, ch.vector FROM doc_chunks ch JOIN doc_files f ON f.id = ch.file_id "
            f"WHERE f.collection_id = ? AND ch.id <= ? AND ch.id IN ({marks})",
            (cid, above, *some),
        )
        if rows:
            yield matrix(rows)


def span(query: Query, cid: int, above: int, below: int) -> tuple[int, int] | None:
    """The collection's lowest and highest chunk ids with ``above < id < below``, if any."""
    # A replay's range above a shard's save is usually empty: one seek says so, where
    # the bounds below go through every chunk id of the collection (its files' index).
    if not query("SELECT 1 FROM doc_chunks WHERE id > ? AND id < ? LIMIT 1", (above, below)):
        return None
    low, high = query(
        "SELECT min(ch.id), max(ch.id) FROM doc_chunks ch JOIN doc_files f "
        "ON f.id = ch.file_id WHERE f.collection_id = ? AND ch.id > ? AND ch.id < ?",
        (cid, above, below),
    )[0]
    return None if low is None else (int(low), int(high))


def count(query: Query, cid: int, low: int = 0, high: int = TOP_ID) -> int:
    """How many chunks of the collection have ``low <= id < high``."""
    return int(query(
        "SELECT count(*) FROM doc_chunks ch JOIN doc_files f ON f.id = ch.file_id "
        "WHERE f.collection_id = ? AND ch.id >= ? AND ch.id < ?", (cid, low, high),
    )[0][0])

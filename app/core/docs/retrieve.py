"""Hybrid retrieval: vector neighbours and BM25 matches, fused by reciprocal rank.

Vector search finds passages that mean the same thing in other words; BM25 finds exact names,
codes and numbers that embeddings blur. Reciprocal rank fusion (k = 60) needs no score
calibration between the two. The fused list is then cut to what fits the prompt's budget.

On large collections the vector side walks the collection's HNSW graph (``ann.py``) and
re-ranks its candidates with the full vectors; small ones are searched exactly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.docs.index import DocumentIndex
from app.core.docs.injection import injection_reason

RRF_K = 60
CANDIDATES = 40
# Up to this many chunks in a collection, exact search over the full vectors is fast enough.
EXACT_LIMIT = 20_000
# Graph candidates per wanted neighbour, re-ranked with the full vectors.
ANN_FACTOR = 3
MIN_SIMILARITY = 0.2
# Words in more than this share of the chunks (and more than the floor, or in more chunks
# than the cap) are not searched: bm25 gives them little weight, and scoring them means
# reading every chunk that holds them.
COMMON_SHARE = 0.05
COMMON_FLOOR = 2_000
COMMON_CAP = 3_000
RANKED_WORDS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
# Look the few chunks up by id first, then their files: left to itself, SQLite walks every
# chunk of the collection's files to find them (60 ms instead of 1 at 100,000 chunks).
_BY_ID_JOIN = "CROSS JOIN doc_files f ON f.id = ch.file_id"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with where it came from and why it ranked."""

    chunk_id: int
    text: str
    file: str
    collection: str
    local_only: bool
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    score: float
    vector_rank: int | None
    bm25_rank: int | None
    flagged: bool
    reason: str | None
    sha256: str | None = None  # the document's digest as indexed: a citation can tell a change


def approx_tokens(text: str) -> int:
    """About four characters a token: good enough to budget a prompt."""
    return (len(text) + 3) // 4


def query_words(text: str) -> list[str]:
    """The distinct words of a query, lower-cased, as the FTS tokenizer would see them."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    return list(dict.fromkeys(words))[:32]


def fts_query(text: str) -> str | None:
    """A safe FTS5 query: each word quoted (no operators survive), any word may match."""
    unique = query_words(text)
    if not unique:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in unique)


def _scope(
    index: DocumentIndex, collections: Sequence[str] | None
) -> tuple[list[tuple[int, int]], bool]:
    """Chosen collections as ``(id, chunks)``, and whether other collections exist."""
    all_ = index.collections()
    chosen = [c for c in all_ if collections is None or c.name in collections]
    return [(c.id, c.chunks) for c in chosen], len(chosen) < len(all_)


def _vector_ranks(
    index: DocumentIndex,
    query: npt.NDArray[np.float32],
    scope: list[tuple[int, int]],
    limit: int,
    exact_limit: int,
) -> list[tuple[int, float]]:
    """Nearest chunks with their cosine similarity (unit vectors: cos = 1 - L2² / 2)."""
    blob = np.asarray(query, dtype=np.float32).tobytes()
    hits: list[tuple[float, int]] = []
    for cid, n_chunks in scope:
        ids = None
        if n_chunks > exact_limit:
            ids = index.ann.search(cid, query, limit * ANN_FACTOR, stamp=n_chunks)
        if ids is None:  # small, or its graph is not ready yet: every vector, exactly
            rows = index.query(
                "SELECT rowid, distance FROM doc_vectors WHERE embedding MATCH ? AND k = ? "
                "AND collection_id = ?", (blob, limit, cid),
            )
            hits += [(float(r[1]), int(r[0])) for r in rows]
            continue
        if not ids:
            continue
        # Re-ranked with the full vectors, and only chunks this collection still holds: a
        # graph that lags behind a write can miss a chunk, never return a removed one.
        marks = ",".join("?" * len(ids))
        rows = index.query(
            f"SELECT ch.id, ch.vector FROM doc_chunks ch {_BY_ID_JOIN} "
            f"WHERE ch.id IN ({marks}) AND f.collection_id = ?", (*ids, cid),
        )
        if not rows:
            continue
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        distances = np.linalg.norm(matrix.reshape(len(rows), -1) - query, axis=1)
        hits += [(float(d), int(r[0])) for d, r in zip(distances, rows, strict=True)]
    hits.sort()
    return [(chunk_id, 1.0 - d * d / 2.0) for d, chunk_id in hits[:limit]]


class _WordCounts:
    """How many chunks hold each word, counted up to a limit and remembered until a write.

    Questions are made of the same common words again and again; counting them once per
    version of the index keeps their cost off every question after the first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._counts: dict[str, int] = {}

    def get(self, index: DocumentIndex, words: list[str], n_chunks: int, limit: int) -> dict[
            str, int]:
        stamp = (id(index), index.generation, n_chunks, limit)
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._counts = stamp, {}
            known = {w: self._counts[w] for w in words if w in self._counts}
        missing = [w for w in words if w not in known]
        if missing:
            probes = " UNION ALL ".join(
                "SELECT ?, (SELECT count(*) FROM (SELECT 1 FROM doc_chunks_fts "
                "WHERE doc_chunks_fts MATCH ? LIMIT ?))" for _ in missing
            )
            params: list[Any] = []
            for w in missing:
                params += [w, '"' + w.replace('"', '""') + '"', limit + 1]
            found = {str(r[0]): int(r[1]) for r in index.query(probes, params)}
            with self._lock:
                if stamp == self._stamp and len(self._counts) < 100_000:
                    self._counts.update(found)
            known.update(found)
        return known


_COUNTS = _WordCounts()


def _rare_enough(index: DocumentIndex, words: list[str], n_chunks: int) -> list[str]:
    """The rarest words, without those in so many chunks that ranking by them costs much.

    Each word's chunks are counted only up to the limit (FTS5 stops reading its list there):
    the vocabulary table reads a common word's whole list, and bm25 would then score every
    chunk holding it — work that grows with the collection. At most ``RANKED_WORDS`` words
    are kept, the rarest, so the chunks scored stay under ``RANKED_WORDS`` times the limit.
    """
    if n_chunks <= COMMON_FLOOR or not words:
        return words
    limit = int(min(COMMON_CAP, max(COMMON_FLOOR, n_chunks * COMMON_SHARE)))
    counts = _COUNTS.get(index, words, n_chunks, limit)
    kept = [w for w in words if 0 < counts.get(w, 0) <= limit]
    rarest = set(sorted(kept, key=lambda w: counts[w])[:RANKED_WORDS])
    return [w for w in kept if w in rarest]


def _bm25_ranks(
    index: DocumentIndex, question: str, collection_ids: list[int], n_chunks: int, limit: int,
    *, partial: bool,
) -> list[int]:
    words = _rare_enough(index, query_words(question), n_chunks)
    match = fts_query(" ".join(words))
    if match is None or not collection_ids:
        return []
    # FTS5 answers "ORDER BY rank LIMIT n" without scoring every match against the joined
    # tables; the collection filter then runs on those few rows only. Over-fetch so a filter
    # that drops most of them still leaves enough.
    fetch = limit * (4 if partial else 1)
    ranked = [int(r[0]) for r in index.query(
        "SELECT rowid FROM doc_chunks_fts WHERE doc_chunks_fts MATCH ? ORDER BY rank LIMIT ?",
        (match, fetch),
    )]
    if not ranked:
        return []
    id_marks = ",".join("?" * len(ranked))
    col_marks = ",".join("?" * len(collection_ids))
    allowed = {int(r[0]) for r in index.query(
        f"SELECT ch.id FROM doc_chunks ch {_BY_ID_JOIN} "
        f"WHERE ch.id IN ({id_marks}) AND f.collection_id IN ({col_marks})",
        (*ranked, *collection_ids),
    )}
    return [i for i in ranked if i in allowed][:limit]


class _Beside(threading.Thread):
    """One call run on its own thread: ``result()`` waits, then returns or raises its outcome.

    A thread a question (≈0.1 ms to start) rather than a pool: nothing outlives the question.
    """

    def __init__(self, func: Callable[[], list[int]]) -> None:
        super().__init__(name="enclave-bm25", daemon=True)
        self._func = func
        self._value: list[int] = []
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._value = self._func()
        except BaseException as exc:  # noqa: BLE001 - raised again on the caller's thread
            self._error = exc

    def result(self) -> list[int]:
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


def _load(index: DocumentIndex, ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = index.query(
        "SELECT ch.id, ch.text, f.path, c.name, c.local_only, ch.page, ch.heading, "
        "ch.char_start, ch.char_end, ch.hidden, f.sha256 FROM doc_chunks ch "
        "JOIN doc_files f ON f.id = ch.file_id JOIN doc_collections c ON c.id = f.collection_id "
        f"WHERE ch.id IN ({marks})", ids,
    )
    return {int(r[0]): r for r in rows}


# Long on purpose: the hybrid search's stages (vectors, full text, fusion, budget) in order.
def retrieve(
    index: DocumentIndex,
    query_vector: npt.NDArray[np.float32],
    question: str,
    *,
    collections: Sequence[str] | None = None,
    token_budget: int = 1500,
    max_passages: int = 8,
    count_tokens: Callable[[str], int] = approx_tokens,
    candidates: int = CANDIDATES,
    exact_limit: int = EXACT_LIMIT,
    min_similarity: float = MIN_SIMILARITY,
) -> list[Passage]:
    """The best passages for a question that fit in ``token_budget``, best first.

    Args:
        index: the documents index.
        query_vector: the question's embedding (``Embedder.embed_one(question)``).
        question: the question's text, for BM25.
        collections: names to search; ``None``: every collection.
        token_budget: the most tokens the passages may take together.
        max_passages: the most passages to return.
        count_tokens: how to count a passage's tokens (default: characters / 4).
        candidates: how many each search contributes before fusion.
        exact_limit: above this many chunks, a collection is searched through its graph.
        min_similarity: vector neighbours less similar than this (cosine) are not kept.
    """
    scope, partial = _scope(index, collections)
    if not scope:
        return []
    collection_ids = [cid for cid, _ in scope]
    n_chunks = sum(n for _, n in scope)
    # On a graph, full text is searched on another thread meanwhile: usearch and SQLite both
    # let go of the GIL (at 100,000 chunks: 11 ms for vectors, 14 for full text, of 27 ms).
    def full_text() -> list[int]:
        return _bm25_ranks(index, question, collection_ids, n_chunks, candidates,
                           partial=partial)

    later = _Beside(full_text) if any(n > exact_limit for _, n in scope) else None
    similar = _vector_ranks(index, query_vector, scope, candidates, exact_limit)
    # Nearest is not the same as near: in a small collection every chunk is a neighbour.
    vector = [cid for cid, cos in similar if cos >= min_similarity]
    bm25 = later.result() if later else full_text()
    scores: dict[int, float] = {}
    for ranking in (vector, bm25):
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    ordered = sorted(scores, key=lambda cid: (-scores[cid], cid))
    rows = _load(index, ordered)
    vrank = {cid: i for i, cid in enumerate(vector, start=1)}
    brank = {cid: i for i, cid in enumerate(bm25, start=1)}
    out: list[Passage] = []
    used = 0
    for cid in ordered:
        row = rows.get(cid)
        if row is None:
            continue
        cost = count_tokens(row[1])
        if used + cost > token_budget:
            continue  # a shorter passage further down may still fit
        used += cost
        reason = injection_reason(row[1], hidden=bool(row[9]))
        out.append(Passage(
            chunk_id=cid, text=row[1], file=row[2], collection=row[3], local_only=bool(row[4]),
            page=row[5], heading=row[6], char_start=row[7], char_end=row[8], score=scores[cid],
            vector_rank=vrank.get(cid), bm25_rank=brank.get(cid), flagged=reason is not None,
            reason=reason, sha256=row[10],
        ))
        if len(out) >= max_passages:
            break
    return out

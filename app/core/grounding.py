"""Answers grounded in the user's documents: retrieval for one chat turn.

``ChatService.send(..., collections=[...])`` asks ``Documents.ground`` for the passages that
fit, and sends the grounded prompt (passages inside delimiters, marked as material rather than
instructions) in place of the bare question. The question alone is what history keeps; the
numbered sources come back with the answer. A local-only collection keeps the turn here.

``Documents.source_status`` tells, for sources stored with older answers, whether each cited
document is still the one that was cited; it reads the index only, never the embedding model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from app.core.errors import EnclaveError
from app.core.paths import AppPaths

if TYPE_CHECKING:  # numpy and onnxruntime load on first use, not at start-up
    from app.core.docs import DocumentIndex, Embedder, Source


SourceStatus = Literal["current", "changed", "removed", "unknown"]
"""A cited document now: the same bytes, different bytes, gone from its collection, or
cannot be told (documents turned off or not set up, or no digest was recorded)."""


@dataclass(frozen=True)
class Grounding:
    """What retrieval produced for one question."""

    user_text: str
    sources: list[Source] = field(default_factory=list)
    local_only: bool = False


class Documents:
    """Lazy access to the document index and the embedding model for chat turns.

    The index shares the history's encrypted database; it is opened on first use only, so a
    user who never attaches documents pays nothing at start-up.
    """

    def __init__(
        self, paths: AppPaths, policy: Any, open_index: Callable[[], DocumentIndex]
    ) -> None:
        self.paths = paths
        self.policy = policy
        self._open_index = open_index
        self._index: DocumentIndex | None = None
        self._embedders: dict[str, Embedder] = {}
        self._lock = threading.Lock()
        self.token_budget = 1200  # prompt room given to passages
        self.max_passages = 8

    def index(self) -> DocumentIndex:
        """The document index (opened on first use)."""
        # app.core.docs (numpy, onnxruntime, sqlite-vec) loads only when documents are used.
        from app.core.docs import check_enabled

        with self._lock:
            if self._index is None:
                check_enabled(self.policy)
                self._index = self._open_index()
            return self._index

    def embedder(self, variant: str | None = None) -> Embedder:
        """The embedding model (loaded on first use).

        Args:
            variant: which copy (``docs.schema.EMBEDDERS``); ``None``: the catalog model's
                own vectors (``exact``), as routing and the API's embeddings use. Documents
                are embedded and searched with their index's: ``embedder(index.embedder)``.
        """
        from app.core.docs import load_embedder
        from app.core.docs.schema import EXACT_EMBEDDER

        variant = variant or EXACT_EMBEDDER
        with self._lock:
            if variant not in self._embedders:
                self._embedders[variant] = load_embedder(self.paths, variant=variant)
            return self._embedders[variant]

    def ground(self, question: str, collections: Sequence[str]) -> Grounding:
        """Retrieve passages for ``question`` from ``collections`` and build the prompt.

        Raises:
            DocumentsDisabled: policy turns documents off.
            DocumentsError: a collection is missing, or the embedding model is not installed.
        """
        from app.core.docs import (
            build_grounded_prompt,
            check_enabled,
            passages_local_only,
            retrieve,
        )

        check_enabled(self.policy)
        index = self.index()
        missing = self.missing_collections(collections)
        if missing:
            from app.core.docs import CollectionNotFound

            names = ", ".join(repr(m) for m in missing)
            raise CollectionNotFound(
                f"There is no document collection named {names}.",
                "List collections with: enclave docs list")
        vector = self.embedder(index.embedder).embed_one(question)
        passages = retrieve(index, vector, question, collections=list(collections),
                            token_budget=self.token_budget, max_passages=self.max_passages)
        user_text, sources = build_grounded_prompt(question, passages)
        return Grounding(user_text, sources, passages_local_only(passages))

    def missing_collections(self, names: Sequence[str]) -> list[str]:
        """Which of ``names`` are not collections (any more), in the order given.

        Raises:
            DocumentsDisabled: policy turns documents off.
        """
        known = {c.name for c in self.index().collections()}
        return [n for n in dict.fromkeys(names) if n not in known]

    def source_status(self, sources: Sequence[Any]) -> list[SourceStatus]:
        """For each stored source (``StoredSource`` or ``Source``), its document now.

        ``changed``: the file in that collection has another digest than when it was cited;
        ``removed``: the collection no longer holds it; ``unknown`` for every source when
        documents are off or cannot be opened. Reads the index only (no embedding model).
        """
        if not sources:
            return []
        from app.core.docs import check_enabled

        try:
            check_enabled(self.policy)
            index = self.index()
            files = {name: {f.path: f for f in index.files(name)}
                     for name in {s.collection for s in sources}}
        except EnclaveError:
            return ["unknown"] * len(sources)
        return [_status(s, files.get(s.collection, {})) for s in sources]

    def close(self) -> None:
        """Close the index."""
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None


def _status(source: Any, files: dict[str, Any]) -> SourceStatus:
    record = files.get(source.file)
    if record is None or record.status != "indexed":
        return "removed"
    if not source.sha256 or not record.sha256:
        return "unknown"
    return "current" if record.sha256 == source.sha256 else "changed"

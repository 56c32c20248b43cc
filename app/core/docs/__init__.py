"""Ask your own documents: collections, ingestion, embeddings, hybrid retrieval, citations.

For the chat turn::

    index = open_index(paths, passphrase=...)
    embedder = load_embedder(paths, variant=index.embedder)  # the copy its vectors came from
    passages = retrieve(index, embedder.embed_one(question), question, collections=["hr"])
    user_text, sources = build_grounded_prompt(question, passages)
    keep_local = passages_local_only(passages)
"""

from __future__ import annotations

from typing import Any

from app.core.docs.embed import Embedder, EmbeddingFiles, find_embedding_files, load_embedder
from app.core.docs.errors import (
    CollectionNotFound,
    DocumentsDisabled,
    DocumentsError,
    DocumentsSchemaNewer,
    EmbeddingModelMissing,
    FileRejected,
)
from app.core.docs.index import Collection, DocumentIndex, FileRecord, open_index
from app.core.docs.ingest import FileOutcome, IngestJob, IngestReport, Progress, ingest
from app.core.docs.prompt import Source, build_grounded_prompt, passages_local_only
from app.core.docs.retrieve import Passage, approx_tokens, retrieve


def check_enabled(policy: Any) -> None:
    """Refuse when policy turns documents off.

    Args:
        policy: the effective policy (anything with ``get(key)``).

    Raises:
        DocumentsDisabled: ``documents.enabled`` is false.
    """
    if not policy.get("documents.enabled"):
        raise DocumentsDisabled(
            "Your administrator has turned off questions about documents on this machine.",
            "Ask your administrator if you need it (policy key documents.enabled).",
        )


__all__ = [
    "Collection",
    "CollectionNotFound",
    "DocumentIndex",
    "DocumentsDisabled",
    "DocumentsError",
    "DocumentsSchemaNewer",
    "Embedder",
    "EmbeddingFiles",
    "EmbeddingModelMissing",
    "FileOutcome",
    "FileRecord",
    "FileRejected",
    "IngestJob",
    "IngestReport",
    "Passage",
    "Progress",
    "Source",
    "approx_tokens",
    "build_grounded_prompt",
    "check_enabled",
    "find_embedding_files",
    "ingest",
    "load_embedder",
    "open_index",
    "passages_local_only",
    "retrieve",
]

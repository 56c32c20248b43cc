"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) through onnxruntime.

Ingestion runs beside generation and the GUI on the same few cores, so the session is
deliberately small: one or two intra-op threads, one inter-op thread, and no spin-waiting
(a spinning thread burns a core while idle between batches).

Texts are tokenized once, sorted by token count and batched in that order, so a batch pads
to about its own length instead of a long neighbour's. A call with several batches and
``threads`` above one runs them side by side on that many single-threaded sessions (the run
releases the GIL): whole batches in parallel scale better on two cores than one batch's
operators split between threads, which wait on each other at every step. A question (one
text) still runs on the main session with every thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.docs.errors import EmbeddingModelMissing
from app.core.docs.pooling import mean_pool
from app.core.docs.schema import EMBEDDING_DIM, EXACT_EMBEDDER, FAST_EMBEDDER
from app.core.models.catalog import CatalogEntry, default_entry
from app.core.models.digests import DigestCache
from app.core.paths import AppPaths

log = logging.getLogger(__name__)

MAX_TOKENS = 256
# Small batches: attention's score tensors (batch x 12 x n x n floats) stay in the CPU's
# caches. At 256 tokens, batches of 8 ran 1.27x the chunks per CPU-second of batches of 32
# (bench/README.md, ingestion second pass).
BATCH_SIZE = 8

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class EmbeddingFiles:
    """The model and tokenizer files, their digests checked against the catalog."""

    model: Path
    tokenizer: Path


def _locate(paths: AppPaths, entry: CatalogEntry) -> Path | None:
    for directory in (paths.user_models_dir, paths.site_models_dir):
        candidate = directory / entry.file
        if candidate.is_file() and candidate.stat().st_size == entry.size:
            return candidate
    return None


def find_embedding_files(paths: AppPaths, *, verify: bool = True) -> EmbeddingFiles:
    """Find the approved embedding model and tokenizer in the user's or the site's models.

    Args:
        paths: where models are installed.
        verify: check each file's SHA-256 against the catalog (cached by size and mtime).

    Raises:
        EmbeddingModelMissing: a file is missing or its bytes are not the approved ones.
    """
    digests = DigestCache(paths.cache_dir / "digests.json")
    found: list[Path] = []
    for kind in ("embedding", "tokenizer"):
        entry = default_entry(kind)
        path = _locate(paths, entry)
        if path is None:
            raise EmbeddingModelMissing(
                f"The {entry.name} file ({entry.file}) is not installed.",
                "Install it with: enclave models provision",
            )
        if verify and digests.sha256(path) != entry.sha256:
            raise EmbeddingModelMissing(
                f"{path} is not the approved {entry.name}: its SHA-256 does not match the "
                "catalog.",
                "Remove it and install it again with: enclave models provision",
            )
        found.append(path)
    return EmbeddingFiles(model=found[0], tokenizer=found[1])


CPU_PROVIDER = "CPUExecutionProvider"


def choose_providers(available: Sequence[str]) -> list[str]:
    """CUDA when onnxruntime-gpu sees a GPU, else the CPU; named explicitly either way."""
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", CPU_PROVIDER]
    return [CPU_PROVIDER]


class Embedder:
    """Turns texts into L2-normalised 384-dimensional vectors.

    ``embed`` may be called from any thread; calls are serialised (one session, a few
    threads: two concurrent runs would only fight over the same cores).
    """

    dim = EMBEDDING_DIM
    variant = EXACT_EMBEDDER  # which vectors it gives (``schema.EMBEDDERS``); set by the loader

    def __init__(
        self,
        files: EmbeddingFiles,
        *,
        threads: int = 1,
        batch_size: int = BATCH_SIZE,
        providers: Sequence[str] | None = None,
    ) -> None:
        """Load the model and tokenizer.

        Raises:
            EmbeddingModelMissing: the files cannot be loaded.
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.batch_size = batch_size
        self.threads = max(1, threads)
        self._model = str(files.model)
        self._workers: list[Any] = []
        self._pool: Any = None
        self.calls = 0  # texts embedded so far: lets callers (and tests) see work done
        self._lock = threading.Lock()
        self._serial = threading.Lock()
        options = _options(self.threads)
        available = ort.get_available_providers()
        asked = list(providers or choose_providers(available))
        # Only providers this onnxruntime has, and always the CPU as the last resort.
        wanted = [p for p in asked if p in available and p != CPU_PROVIDER] + [CPU_PROVIDER]
        # onnxruntime-gpu on a machine without CUDA libraries prints its provider-loading
        # failure to stderr and carries on with the CPU; the outcome is logged below instead.
        ort.set_default_logger_severity(4)
        try:
            self._session = ort.InferenceSession(
                str(files.model), sess_options=options, providers=wanted
            )
            tokenizer = Tokenizer.from_file(str(files.tokenizer))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingModelMissing(
                f"The embedding model could not be loaded ({type(exc).__name__}).",
                "Install it again with: enclave models provision",
            ) from exc
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # No padding here (the file asks for 128): each batch pads to its own longest text.
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.providers: list[str] = list(self._session.get_providers())
        log.info("embedding model loaded; providers %s", self.providers)
        if asked[0] != self.providers[0]:
            log.warning("embeddings run on %s: %s could not start (missing GPU libraries?)",
                        self.providers[0], asked[0])

    @property
    def provider(self) -> str:
        """The execution provider that actually runs the model."""
        return self.providers[0]

    @property
    def parallel(self) -> int:
        """How many batches one ``embed`` call runs side by side."""
        return self.threads if self.provider == CPU_PROVIDER else 1

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in batches of similar token counts.

        Returns:
            A ``(len(texts), 384)`` float32 array of unit vectors, in the order given.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._serial:
            self._embed_into(out, texts)
            self.calls += len(texts)
        return out

    def _embed_into(self, out: Vectors, texts: Sequence[str]) -> None:
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if len(batches) > 1 and self.parallel > 1:
            pool, sessions = self._parallel_sessions()
            futures = [pool.submit(self._run, sessions[n % len(sessions)],
                                   [encodings[i] for i in batch])
                       for n, batch in enumerate(batches)]
            results = [f.result() for f in futures]
        else:
            results = [self._run(self._session, [encodings[i] for i in batch])
                       for batch in batches]
        for batch, vectors in zip(batches, results, strict=True):
            out[batch] = vectors

    def embed_one(self, text: str) -> Vectors:
        """Embed one text (a query); returns a ``(384,)`` unit vector."""
        vector: Vectors = self.embed([text])[0]
        return vector

    def _run(self, session: Any, encodings: list[Any]) -> Vectors:
        # Padded to this batch's longest text (the tokenizer's own padding would pad every
        # text to the longest of the whole call).
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0]
        return mean_pool(np.asarray(hidden, dtype=np.float32), mask)

    def _parallel_sessions(self) -> tuple[Any, list[Any]]:
        """Single-threaded sessions (one per thread) and a pool to run them; made once."""
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                import onnxruntime as ort

                self._workers = [
                    ort.InferenceSession(self._model, sess_options=_options(1),
                                         providers=[CPU_PROVIDER])
                    for _ in range(self.threads)
                ]
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
            return self._pool, self._workers


def _options(threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def load_embedder(paths: AppPaths, *, threads: int = 1, optimize: bool = True,
                  variant: str = EXACT_EMBEDDER) -> Embedder:
    """Find, verify and load the approved embedding model.

    With ``optimize`` the model runs from its ``variant`` copy in the user's cache (made on
    first use: ``embed_optimize``); if that copy cannot be made or loaded, the ``exact``
    copy or the approved file itself runs. ``Embedder.variant`` says which vectors it gives.
    Search a documents index with ``variant=index.embedder``.

    Raises:
        EmbeddingModelMissing: the model is missing, not approved or cannot be loaded.
    """
    files = find_embedding_files(paths)
    if optimize:
        from app.core.docs.embed_optimize import cached_paths, optimized_model

        sha = default_entry("embedding").sha256
        copy = optimized_model(files.model, sha, paths.cache_dir, variant)
        if copy != files.model:
            made = FAST_EMBEDDER if copy == cached_paths(paths.cache_dir, sha, FAST_EMBEDDER)[0] \
                else EXACT_EMBEDDER
            try:
                embedder = Embedder(replace(files, model=copy), threads=threads)
                embedder.variant = made
                return embedder
            except EmbeddingModelMissing:
                log.warning("the optimised embedding model did not load; using the original")
    return Embedder(files, threads=threads)

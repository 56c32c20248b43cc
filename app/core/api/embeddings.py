"""``/v1/embeddings``: the bundled all-MiniLM-L6-v2, the same vectors documents are indexed with.

The model reads at most 256 tokens of a text; a longer input is refused with a 400 naming it,
never cut short in silence (a vector of half a text is a wrong answer that looks right).
Requests run on their own lane, one at a time, and each leaves one ``api.embeddings`` audit
record: the token, how many texts and tokens, and the digest of the texts, never the texts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any

from app.core.api.errors import bad_request
from app.core.api.queue import Job
from app.core.api.requests import EmbeddingsRequest
from app.core.api.tokens import Grant
from app.core.audit import events
from app.core.errors import EnclaveError


class Embeddings:
    """Loads the embedding model on first use and answers embeddings requests.

    Args:
        ctx: The session (its documents' embedder, else the installed files).
        audit: The audit log, or ``None``.
    """

    def __init__(self, ctx: Any, audit: Any) -> None:
        self.ctx = ctx
        self.audit = audit
        self._embedder: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.max_tokens = 0  # what the model reads of a text, known once it is loaded

    def _load(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer

        from app.core.docs.embed import MAX_TOKENS, find_embedding_files, load_embedder

        with self._lock:
            if self._embedder is None:
                documents = getattr(self.ctx.chat, "documents", None)
                self._embedder = (documents.embedder() if documents is not None
                                  else load_embedder(self.ctx.paths))
                counter = Tokenizer.from_file(str(find_embedding_files(self.ctx.paths).tokenizer))
                counter.no_truncation()
                counter.no_padding()
                self._tokenizer = counter
                self.max_tokens = MAX_TOKENS
            return self._embedder, self._tokenizer

    def run(self, job: Job, grant: Grant, request: EmbeddingsRequest) -> None:
        """Embed the request's texts on the lane's thread; the body goes to ``job``."""
        from app.core.api.requests import check_dimensions

        try:
            embedder, counter = self._load()
            check_dimensions(request, embedder.dim)
            texts = request.texts()
            counts = [len(e.ids) for e in counter.encode_batch(texts)]
            for i, n in enumerate(counts):
                if n > self.max_tokens:
                    raise bad_request(f"Input {i} is {n} tokens; this model reads at most "
                                      f"{self.max_tokens}. Split it.", "input",
                                      "context_length_exceeded")
            vectors = embedder.embed(texts)
            self._record(grant, request, texts, sum(counts))
            job.post("done", self._body(request, vectors, sum(counts)))
        except EnclaveError as exc:
            job.post("error", exc)

    def _record(self, grant: Grant, request: EmbeddingsRequest, texts: list[str],
                tokens: int) -> None:
        if self.audit is None:
            return
        digest = hashlib.sha256("\x00".join(texts).encode("utf-8", "replace")).hexdigest()
        self.audit.record(events.API_EMBEDDINGS, model={"id": request.model},
                          prompt_sha256=digest, tokens_in=tokens,
                          detail={"api_token": grant.name, "inputs": len(texts)},
                          outcome={"status": "ok", "reason": "embedded"})

    @staticmethod
    def _body(request: EmbeddingsRequest, vectors: Any, tokens: int) -> bytes:
        data = []
        for i, vector in enumerate(vectors):
            if request.encoding_format == "base64":
                value: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                value = [float(x) for x in vector]
            data.append({"object": "embedding", "index": i, "embedding": value})
        body = {"object": "list", "data": data, "model": request.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return json.dumps(body).encode()

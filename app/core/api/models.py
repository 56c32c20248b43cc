"""Which model names a token may ask for, decided once when the server starts.

A client names a model by its id (``smollm2-135m-instruct-q4_1``), never by a path: the API
reads no file a client names. The local models are those installed and allowed by policy
now (their digests are cached, so this is quick after the first start); a token bound to a
connector endpoint sees that endpoint's models; an ``embeddings`` token sees the bundled
MiniLM. ``GET /v1/models`` answers from bytes encoded once per kind of token, so it stays
fast while the engine is busy.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from app.core.api.errors import ApiError
from app.core.api.tokens import Grant
from app.core.errors import EnclaveError
from app.core.routing import LOCAL, find_endpoint

log = logging.getLogger(__name__)


def embedding_model_id() -> str:
    """The id clients give for the bundled embedding model."""
    from app.core.models.catalog import default_entry

    return default_entry("embedding").id


def allowed_local_models(registry: Any, policy: Any) -> list[str]:
    """Ids of the installed chat models policy lets load now (in the registry's order)."""
    ids: list[str] = []
    for model in registry.installed():
        try:
            digest = registry.sha256(model)
        except OSError:
            continue
        if policy.check_model(digest).allowed and model.id not in ids:
            ids.append(model.id)
    return ids


@dataclass
class ModelList:
    """The model ids each kind of token may use.

    Attributes:
        local: Chat models on this machine.
        embedding: The embedding model's id ("" when it is not installed).
        policy: For the endpoints' models.
    """

    local: list[str]
    embedding: str
    policy: Any
    _encoded: dict[tuple[str, tuple[str, ...]], bytes] = field(default_factory=dict)

    @classmethod
    def build(cls, registry: Any, policy: Any, paths: Any) -> ModelList:
        """Look the models up now."""
        from app.core.docs.embed import find_embedding_files

        embedding = embedding_model_id()
        try:
            find_embedding_files(paths)
        except EnclaveError as exc:
            log.info("API: no embeddings (%s)", exc.message)
            embedding = ""
        return cls(allowed_local_models(registry, policy), embedding, policy)

    def chat_models(self, route: str) -> list[str]:
        """The models a token bound to ``route`` may chat with."""
        if route == LOCAL:
            return list(self.local)
        endpoint = find_endpoint(self.policy, route) or {}
        return [str(m) for m in endpoint.get("models") or []]

    def ids(self, grant: Grant) -> list[str]:
        """Every model id the token may name."""
        ids = self.chat_models(grant.route) if "chat" in grant.scopes else []
        if "embeddings" in grant.scopes and self.embedding:
            ids.append(self.embedding)
        return ids

    def encoded(self, grant: Grant) -> bytes:
        """``GET /v1/models``'s body for this token."""
        key = (grant.route, grant.scopes)
        body = self._encoded.get(key)
        if body is None:
            data = [{"id": i, "object": "model", "created": 0, "owned_by": "enclave"}
                    for i in self.ids(grant)]
            body = json.dumps({"object": "list", "data": data}).encode()
            self._encoded[key] = body
        return body

    def check_chat(self, grant: Grant, model: str) -> None:
        """Refuse a chat model the token may not use.

        Raises:
            ApiError: 404 ``model_not_found``, as OpenAI answers.
        """
        if model not in self.chat_models(grant.route):
            raise _not_found(model)

    def check_embedding(self, model: str) -> None:
        """Refuse any model but the embedding model.

        Raises:
            ApiError: 404 ``model_not_found``.
        """
        if not self.embedding or model != self.embedding:
            raise _not_found(model)


def _not_found(model: str) -> ApiError:
    return ApiError(404, f"The model {model!r:.80} does not exist here, or this token may not "
                    "use it; GET /v1/models lists the ones it may.", kind="not_found_error",
                    code="model_not_found", param="model")

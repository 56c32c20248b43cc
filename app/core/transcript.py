"""Conversation helpers: in-memory transcripts, titles, fitting a prompt into the context."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from app.core.engines.base import ChatEngine, ChatMessage, GenerationParams
from app.core.errors import EnclaveError
from app.core.settings_schema import validate_generation


class Transcripts:
    """Conversations kept in memory when no history store is attached (``--no-save``)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._conversations: dict[int, list[ChatMessage]] = {}

    def create(self) -> int:
        """Start an empty conversation; returns its id."""
        cid = next(self._ids)
        self._conversations[cid] = []
        return cid

    def get(self, cid: int) -> list[ChatMessage]:
        """The messages of a conversation of this session."""
        try:
            return self._conversations[cid]
        except KeyError:
            raise EnclaveError(f"There is no conversation {cid} in this session.") from None


def title_from(text: str) -> str:
    """A conversation title from its first message."""
    line = " ".join(text.split())
    return (line[:60] + "…") if len(line) > 60 else (line or "New conversation")


def fit_to_context(
    engine: ChatEngine, messages: list[ChatMessage], params: GenerationParams
) -> list[ChatMessage]:
    """Drop the oldest turns until the prompt leaves room for an answer.

    Counting tokens means rendering and tokenizing; short conversations skip it.
    """
    n_ctx = engine.info.context_length
    counter = getattr(engine, "prompt_tokens", None)
    if n_ctx <= 0 or counter is None:
        return messages
    reserve = min(params.max_tokens, n_ctx // 2)
    # ~1 token per 2 characters is a safe upper bound for short conversations.
    if sum(len(m.content) for m in messages) // 2 < n_ctx - reserve:
        return messages
    kept = list(messages)
    while len(kept) > 1 and len(counter(kept)) > n_ctx - reserve:
        drop = 1 if kept[0].role == "system" and len(kept) > 2 else 0
        del kept[drop]
    return kept


def with_overrides(params: GenerationParams, **changes: Any) -> GenerationParams:
    """A copy of ``params`` with the non-``None`` changes applied, each within its bounds.

    Raises:
        InvalidSettingValue: a change is outside what ``settings set`` would accept.
    """
    return replace(params, **validate_generation(**changes))

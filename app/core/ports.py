"""The narrow interfaces ChatService needs from the history, the audit log and the policy.

Protocols rather than concrete classes: the chat service is tested with the real store, log
and policy, but nothing here ties it to how they are built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class HistoryWriter(Protocol):
    """The part of the history store a turn needs."""

    def create_conversation(self, title: str, *, route: str = "local") -> int:
        """Start a conversation; returns its id."""
        ...

    def add_message(
        self,
        conversation_id: int,
        role: str,
        text: str,
        *,
        parent_id: int | None = None,
        model_id: str | None = None,
        model_sha256: str | None = None,
        route: str = "local",
        complete: bool = True,
    ) -> int:
        """Store a message; returns its id."""
        ...

    def update_message(
        self,
        message_id: int,
        *,
        text: str,
        complete: bool,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        ttft_ms: float | None = None,
        tokens_per_s: float | None = None,
    ) -> None:
        """Rewrite a message as its answer grows or finishes."""
        ...

    def messages(self, conversation_id: int) -> Sequence[Any]:
        """Every stored message of a conversation, oldest first."""
        ...

    def save_sources(self, message_id: int, sources: Sequence[Any]) -> None:
        """Keep the numbered sources an answer was grounded on."""
        ...

    def set_scope(self, conversation_id: int, collections: Sequence[str]) -> None:
        """Make ``collections`` the ones the conversation answers from."""
        ...

    def scope(self, conversation_id: int) -> list[str]:
        """The collections the conversation answers from."""
        ...

    def redactions(self, conversation_id: int) -> dict[str, str]:
        """The placeholder mapping stored for a conversation."""
        ...

    def save_redactions(self, conversation_id: int, mapping: dict[str, str]) -> None:
        """Keep a conversation's placeholder mapping."""
        ...


class AuditSink(Protocol):
    """The part of the audit log a turn needs."""

    required: bool

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one audit record."""
        ...


class ModelGate(Protocol):
    """The part of the effective policy that decides whether a model may run."""

    def get(self, key: str) -> Any:
        """The effective value of a dotted policy key."""
        ...

    def check_model(self, sha256: str) -> Any:
        """Whether a model with this digest may load (a PolicyDecision)."""
        ...

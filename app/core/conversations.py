"""Conversations as branches: which messages an answer continues.

Edits and regenerations create sibling messages; following ``parent_id`` links from a leaf
back to the root gives the one branch the user is looking at. Each conversation answers
from its own document collections (its scope). Without a history store (``--no-save``)
conversations, and their scopes, live in memory for the session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from app.core.engines.base import ChatMessage
from app.core.errors import EnclaveError
from app.core.ports import HistoryWriter
from app.core.reasoning import without_reasoning
from app.core.source_markers import strip_source_markers
from app.core.transcript import Transcripts, title_from
from app.core.turn import Turn

if TYPE_CHECKING:  # redaction loads phone and IBAN metadata: only for remote turns
    from app.core.guard.redact import Redactor

ROOT = 0  # parent_id meaning "a new first message" (editing the conversation's first message)


class Conversations:
    """The conversations a ChatService answers in: stored, or in memory."""

    def __init__(self, history: HistoryWriter | None) -> None:
        self.history = history
        self._memory = Transcripts()
        self._redactors: dict[int, Redactor] = {}  # one per conversation: stable placeholders
        self._scopes: dict[int, tuple[str, ...]] = {}  # unsaved conversations' collections

    def new(self, title: str = "New conversation") -> int:
        """Start an empty conversation and return its id."""
        if self.history is None:
            return self._memory.create()
        return self.history.create_conversation(title)

    def branch(self, conversation_id: int, leaf_id: int | None = None) -> list[Any]:
        """Stored messages on the branch ending at ``leaf_id`` (default: newest), oldest first.

        Raises:
            EnclaveError: ``leaf_id`` is not a message of the conversation.
        """
        if self.history is None:
            return []
        stored = list(self.history.messages(conversation_id))
        if not stored:
            return []
        by_id = {m.id: m for m in stored}
        node = by_id.get(leaf_id) if leaf_id is not None else stored[-1]
        if node is None:
            raise EnclaveError(f"Message {leaf_id} is not in conversation {conversation_id}.")
        chain = []
        seen: set[int] = set()
        while node is not None and node.id not in seen:
            seen.add(node.id)
            chain.append(node)
            node = by_id.get(node.parent_id) if node.parent_id is not None else None
        return chain[::-1]

    def transcript(self, conversation_id: int, leaf_id: int | None = None) -> list[ChatMessage]:
        """The branch ending at ``leaf_id`` (default: the newest), as the engine sees it."""
        if self.history is None:
            return _engine_view((m.role, m.content) for m in self._memory.get(conversation_id))
        return as_chat(self.branch(conversation_id, leaf_id))

    def continuing(
        self, conversation_id: int | None, parent_id: int | None
    ) -> tuple[list[ChatMessage], int | None]:
        """What a new message continues: the branch (engine's view) and its parent's id.

        ``parent_id`` ``None`` follows the newest message; ``ROOT`` starts a new first one.
        """
        if conversation_id is None:
            return [], None
        if self.history is None:
            return self.transcript(conversation_id), None
        chain = [] if parent_id == ROOT else self.branch(conversation_id, parent_id)
        return as_chat(chain), (chain[-1].id if chain else None)

    def redactor(self, conversation_id: int | None, policy: Any) -> Redactor:
        """The conversation's redactor: the same value keeps the same placeholder all along.

        A resumed conversation gets its stored placeholders back (kept encrypted, locally);
        a new one (``None``) gets a fresh redactor, kept with :meth:`keep_redactor` once the
        conversation exists.
        """
        from app.core.guard.redact import Redactor  # first remote turn of the session

        if conversation_id is None:
            return Redactor.from_policy(policy)
        if conversation_id not in self._redactors:
            redactor = Redactor.from_policy(policy)
            if self.history is not None:
                redactor.seed(self.history.redactions(conversation_id))
            self._redactors[conversation_id] = redactor
        return self._redactors[conversation_id]

    def keep_redactor(self, conversation_id: int, redactor: Redactor) -> None:
        """Keep the redactor that made a new conversation's first placeholders."""
        self._redactors[conversation_id] = redactor

    def scope(self, conversation_id: int) -> list[str]:
        """The collections the conversation answers from (empty: none)."""
        if self.history is None:
            return list(self._scopes.get(conversation_id, ()))
        return list(self.history.scope(conversation_id))

    def set_scope(self, conversation_id: int, collections: Sequence[str]) -> None:
        """Make ``collections`` the ones the conversation answers from (replacing any)."""
        if self.history is None:
            self._scopes[conversation_id] = tuple(sorted({c.strip() for c in collections} - {""}))
        else:
            self.history.set_scope(conversation_id, collections)

    def save_request(self, turn: Turn) -> None:
        """Step 5 of a turn begins: the conversation, its scope and the user's message.

        A turn that starts a conversation creates it here (titled from the message); a
        scope the request named becomes the conversation's. Once saved, the message is kept
        whatever happens to the answer.
        """
        request = turn.request
        if turn.conversation_id is None:
            turn.conversation_id = self.new(title_from(request.text))
            if turn.redactor is not None:
                self.keep_redactor(turn.conversation_id, turn.redactor)
        if turn.scope_given:
            self.set_scope(turn.conversation_id, turn.scope)
        if request.regenerate is not None:
            turn.user_message_id = request.regenerate
        elif self.history is not None:
            turn.user_message_id = self.history.add_message(
                turn.conversation_id, "user", request.text, parent_id=turn.parent_id)
        else:
            self.remember(turn.conversation_id, ChatMessage("user", request.text))

    def remember(self, conversation_id: int, message: ChatMessage) -> None:
        """Keep a message of an unsaved conversation for the rest of the session."""
        if self.history is None:
            self._memory.get(conversation_id).append(message)


def as_chat(chain: Sequence[Any]) -> list[ChatMessage]:
    """Stored messages as the engine sees them (empty, e.g. failed, answers left out).

    See :func:`as_context` for what an earlier answer leaves behind.
    """
    return _engine_view((m.role, m.text) for m in chain
                        if m.role in ("system", "user", "assistant") and m.text)


def _engine_view(messages: Iterable[tuple[Any, str]]) -> list[ChatMessage]:
    """Messages as context; an answer with nothing left (all reasoning) is left out."""
    kept = [ChatMessage(role, as_context(role, text)) for role, text in messages]
    return [m for m in kept if m.content or m.role != "assistant"]


def as_context(role: str, text: str) -> str:
    """An earlier message as the next turn's context sees it.

    An answer's reasoning is left out: reasoning models' templates drop earlier thinking
    (fed back, it would be read as part of the answer) and it fills the context for nothing.
    Source markers an older answer copied are left out too: fed back, they would teach the
    model to copy them again.
    """
    if role != "assistant":
        return text
    return strip_source_markers(without_reasoning(text))[0]

"""The conversation history: what the ChatService, the GUI and the CLI call.

Writes go through the single writer thread (``writer.py``) and return once committed. Reads
use a second connection, serialised by a lock, so a long search never waits behind a write
and the GUI's worker threads can call any method.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.core.inputs import clean_text, in_range, row_id
from app.core.store import search as fts
from app.core.store.api_tokens import ApiTokens
from app.core.store.attachments import Attachments
from app.core.store.database import Connection
from app.core.store.errors import ConversationNotFound, MessageNotFound
from app.core.store.keys import KeyMode
from app.core.store.prompts import Prompts
from app.core.store.records import Conversation, Message, SearchHit
from app.core.store.sensitivity import Sensitivity

T = TypeVar("T")

ROLES = ("system", "user", "assistant", "tool")
_SECONDS_PER_DAY = 86_400

_CONVERSATION_COLUMNS = "id, title, created, updated, pinned, route"
_MESSAGE_COLUMNS = (
    "id, conversation_id, parent_id, role, text, model_id, model_sha256, route, created, "
    "prompt_tokens, completion_tokens, ttft_ms, tokens_per_s, complete"
)


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=row[0], title=row[1], created=row[2], updated=row[3], pinned=bool(row[4]), route=row[5]
    )


def _message(row: Any) -> Message:
    return Message(
        id=row[0],
        conversation_id=row[1],
        parent_id=row[2],
        role=row[3],
        text=row[4],
        model_id=row[5],
        model_sha256=row[6],
        route=row[7],
        created=row[8],
        prompt_tokens=row[9],
        completion_tokens=row[10],
        ttft_ms=row[11],
        tokens_per_s=row[12],
        complete=bool(row[13]),
    )


def _not_found(conversation_id: int) -> ConversationNotFound:
    return ConversationNotFound(
        f"There is no conversation {conversation_id}.",
        "List conversations with: enclave history list",
    )


class HistoryStore(Attachments, ApiTokens, Sensitivity, Prompts):
    """The encrypted conversation history. Obtain one with ``open_history``."""

    what = "history store"

    def __init__(
        self,
        path: Path,
        write_conn: Connection,
        read_conn: Connection,
        *,
        mode: KeyMode,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(path, write_conn, read_conn)
        self.mode = mode
        self._clock = clock

    # -- conversations ----------------------------------------------------------------------

    def create_conversation(self, title: str, *, route: str = "local") -> int:
        """Start a conversation; returns its id."""
        now = self._clock()

        def op(conn: Connection) -> int:
            cur = conn.execute(
                "INSERT INTO conversations (title, created, updated, route) VALUES (?, ?, ?, ?)",
                (clean_text(title), now, now, route),
            )
            return int(cur.lastrowid)

        return self._write(op)

    def conversation(self, conversation_id: int) -> Conversation:
        """One conversation's header.

        Raises:
            ConversationNotFound: if there is no such conversation.
        """
        if row_id(conversation_id) is None:  # no row can have it (e.g. beyond 64 bits)
            raise _not_found(conversation_id)
        rows = self._query(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        )
        if not rows:
            raise _not_found(conversation_id)
        return _conversation(rows[0])

    def list_conversations(self, limit: int = 100, offset: int = 0) -> list[Conversation]:
        """Conversations, pinned first, then most recently updated first.

        Raises:
            InvalidInput: a negative or oversized limit or offset (SQLite would read a
                negative limit as "no limit").
        """
        in_range(limit, "limit")
        in_range(offset, "offset")
        rows = self._query(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations "
            "ORDER BY pinned DESC, updated DESC, id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_conversation(r) for r in rows]

    def rename(self, conversation_id: int, title: str) -> None:
        """Change a conversation's title."""
        self._update_conversation(conversation_id, "title = ?", (clean_text(title),))

    def pin(self, conversation_id: int, pinned: bool) -> None:
        """Pin (or unpin) a conversation to the top of the list."""
        self._update_conversation(conversation_id, "pinned = ?", (int(pinned),))

    def _update_conversation(
        self, conversation_id: int, assignment: str, params: tuple[Any, ...]
    ) -> None:
        def op(conn: Connection) -> None:
            cur = conn.execute(
                f"UPDATE conversations SET {assignment} WHERE id = ?", (*params, conversation_id)
            )
            if cur.rowcount == 0:
                raise _not_found(conversation_id)

        self._write(op)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation, its messages and their search entries.

        Raises:
            ConversationNotFound: if there is no such conversation.
        """

        def op(conn: Connection) -> None:
            # Messages go first so their FTS triggers fire; the cascade would do the same.
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            cur = conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cur.rowcount == 0:
                raise _not_found(conversation_id)

        self._write(op)

    def save_redactions(self, conversation_id: int, mapping: dict[str, str]) -> None:
        """Keep a conversation's placeholder mapping (new entries only; never leaves here)."""
        if not mapping:
            return
        rows = [(conversation_id, p, v) for p, v in mapping.items()]

        def op(conn: Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO redactions (conversation_id, placeholder, original) "
                "VALUES (?, ?, ?)", rows)

        self._write(op)

    def redactions(self, conversation_id: int) -> dict[str, str]:
        """The placeholder mapping stored for a conversation."""
        rows = self._query(
            "SELECT placeholder, original FROM redactions WHERE conversation_id = ?",
            (conversation_id,))
        return {str(p): str(v) for p, v in rows}

    def apply_retention(self, days: int) -> int:
        """Delete conversations not updated for ``days`` days, pinned ones included.

        Retention is a compliance setting, so pinning does not exempt a conversation.

        Args:
            days: The retention period; ``0`` or less means keep everything.

        Returns:
            How many conversations were deleted.
        """
        if days <= 0:
            return 0
        cutoff = self._clock() - days * _SECONDS_PER_DAY

        def op(conn: Connection) -> int:
            conn.execute(
                "DELETE FROM messages WHERE conversation_id IN "
                "(SELECT id FROM conversations WHERE updated < ?)",
                (cutoff,),
            )
            cur = conn.execute("DELETE FROM conversations WHERE updated < ?", (cutoff,))
            return int(cur.rowcount)

        return self._write(op)

    # -- messages ---------------------------------------------------------------------------

    # Long on purpose: the checks and the insert share one transaction on the writer thread.
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
        """Append a message; returns its id once it is committed.

        Raises:
            ConversationNotFound: if the conversation does not exist.
            MessageNotFound: if ``parent_id`` is not a message of that conversation.
            ValueError: if ``role`` is not one of ``ROLES``.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        text = clean_text(text)
        now = self._clock()

        def op(conn: Connection) -> int:
            if (
                conn.execute(
                    "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                is None
            ):
                raise _not_found(conversation_id)
            if (
                parent_id is not None
                and conn.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                    (parent_id, conversation_id),
                ).fetchone()
                is None
            ):
                raise MessageNotFound(
                    f"Message {parent_id} is not part of conversation {conversation_id}.",
                    "Branch from a message of the same conversation.",
                )
            cur = conn.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, text, model_id, "
                "model_sha256, route, created, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    parent_id,
                    role,
                    text,
                    model_id,
                    model_sha256,
                    route,
                    now,
                    int(complete),
                ),
            )
            conn.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id)
            )
            return int(cur.lastrowid)

        return self._write(op)

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
        """Replace a message's text and metrics (a streaming answer, about once a second).

        Metrics left as ``None`` keep their stored value.

        Raises:
            MessageNotFound: if there is no such message.
        """
        text = clean_text(text)
        now = self._clock()

        def op(conn: Connection) -> None:
            cur = conn.execute(
                "UPDATE messages SET text = ?, complete = ?, "
                "prompt_tokens = coalesce(?, prompt_tokens), "
                "completion_tokens = coalesce(?, completion_tokens), "
                "ttft_ms = coalesce(?, ttft_ms), tokens_per_s = coalesce(?, tokens_per_s) "
                "WHERE id = ?",
                (
                    text,
                    int(complete),
                    prompt_tokens,
                    completion_tokens,
                    ttft_ms,
                    tokens_per_s,
                    message_id,
                ),
            )
            if cur.rowcount == 0:
                raise MessageNotFound(f"There is no message {message_id}.", "")
            conn.execute(
                "UPDATE conversations SET updated = ? WHERE id = "
                "(SELECT conversation_id FROM messages WHERE id = ?)",
                (now, message_id),
            )

        self._write(op)

    def messages(self, conversation_id: int) -> list[Message]:
        """Every message of a conversation, all branches, oldest first.

        Raises:
            ConversationNotFound: if there is no such conversation.
        """
        self.conversation(conversation_id)
        rows = self._query(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [_message(r) for r in rows]

    # -- search -----------------------------------------------------------------------------

    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Full-text search, best first; exact phrases rank above scattered words.

        Any text is accepted: it is never interpreted as FTS5 syntax.
        """
        return fts.search(self._query, clean_text(query), in_range(limit, "limit"))

    # -- reporting --------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """``(conversations, messages)``."""
        rows = self._query(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)"
        )
        return int(rows[0][0]), int(rows[0][1])

    def schema_version(self) -> int:
        """The database's schema version."""
        return int(self._query("PRAGMA user_version")[0][0])

    def export_conversation(self, conversation_id: int, fmt: str = "md", *,
                            include_thinking: bool = False) -> str:
        """Render a conversation as Markdown (``"md"``) or JSON (``"json"``).

        Each answer's sources go under it; the conversation's collections head it. Answers'
        reasoning is left out unless ``include_thinking``.
        """
        from app.core.store.export import render

        messages = self.messages(conversation_id)
        return render(self.conversation(conversation_id), messages, fmt,
                      sources=self.sources_for(m.id for m in messages),
                      scope=self.scope(conversation_id), include_thinking=include_thinking)

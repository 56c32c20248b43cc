"""The user's prompt library and each conversation's system prompt, in the encrypted history.

``HistoryStore`` inherits these methods. They store what ``app.core.prompts`` has already
validated and normalised (that module is what the GUI, the CLI and the API call); here the
text is only made safe for SQLite once more. The organization's prompts come from policy and
are never written here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlcipher3 import dbapi2

from app.core.errors import EnclaveError, ExitCode
from app.core.inputs import clean_text, row_id
from app.core.store.database import Connection
from app.core.store.errors import ConversationNotFound
from app.core.store.tables import EncryptedTables

_COLUMNS = "id, name, body, kind, created, updated"


class StoredPromptExists(EnclaveError):
    """The user already has a prompt of that name."""

    exit_code = ExitCode.USAGE


class StoredPromptNotFound(EnclaveError):
    """No saved prompt has that id."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class StoredPrompt:
    """One of the user's saved prompts. Times: seconds since the epoch.

    Attributes:
        id: Its row id (what ``enclave prompts`` accepts besides the name).
        name: Unique regardless of case.
        body: The text.
        kind: ``prompt`` (inserted into a message) or ``system`` (a conversation's system
            prompt).
        created: When it was saved first.
        updated: When it was last changed.
    """

    id: int
    name: str
    body: str
    kind: str
    created: float
    updated: float


def _record(row: Any) -> StoredPrompt:
    return StoredPrompt(id=int(row[0]), name=str(row[1]), body=str(row[2]), kind=str(row[3]),
                        created=float(row[4]), updated=float(row[5]))


def _exists(name: str) -> StoredPromptExists:
    return StoredPromptExists(f"You already have a prompt named {name!r}.",
                              "Choose another name, or edit that prompt instead.")


def _not_found(prompt_id: int) -> StoredPromptNotFound:
    return StoredPromptNotFound(f"There is no saved prompt {prompt_id}.",
                                "List your prompts with: enclave prompts list")


def _no_conversation(conversation_id: int) -> ConversationNotFound:
    return ConversationNotFound(f"There is no conversation {conversation_id}.",
                                "List conversations with: enclave history list")


class Prompts(EncryptedTables):
    """Saved prompts and per-conversation system prompts (mixed into ``HistoryStore``)."""

    _clock: Callable[[], float]  # the history's clock (set by ``HistoryStore``)

    def add_prompt(self, name: str, body: str, kind: str = "prompt") -> StoredPrompt:
        """Save a new prompt; returns it with its id.

        Raises:
            StoredPromptExists: a prompt of that name (in any case) is already saved.
        """
        name, body, now = clean_text(name), clean_text(body), self._clock()

        def op(conn: Connection) -> int:
            try:
                cur = conn.execute(
                    "INSERT INTO prompts (name, body, kind, created, updated) "
                    "VALUES (?, ?, ?, ?, ?)", (name, body, kind, now, now))
            except dbapi2.IntegrityError as exc:
                if "UNIQUE" not in str(exc):
                    raise
                raise _exists(name) from None
            return int(cur.lastrowid)

        return StoredPrompt(self._write(op), name, body, kind, now, now)

    def update_prompt(self, prompt_id: int, *, name: str, body: str, kind: str) -> StoredPrompt:
        """Replace a saved prompt's name, text and kind.

        Raises:
            StoredPromptNotFound: there is no such prompt.
            StoredPromptExists: another prompt already has the new name.
        """
        name, body, now = clean_text(name), clean_text(body), self._clock()

        def op(conn: Connection) -> float:
            try:
                cur = conn.execute(
                    "UPDATE prompts SET name = ?, body = ?, kind = ?, updated = ? WHERE id = ?",
                    (name, body, kind, now, prompt_id))
            except dbapi2.IntegrityError as exc:
                if "UNIQUE" not in str(exc):
                    raise
                raise _exists(name) from None
            if cur.rowcount == 0:
                raise _not_found(prompt_id)
            return float(conn.execute("SELECT created FROM prompts WHERE id = ?",
                                      (prompt_id,)).fetchone()[0])

        created = self._write(op)
        return StoredPrompt(prompt_id, name, body, kind, created, now)

    def delete_prompt(self, prompt_id: int) -> None:
        """Delete a saved prompt.

        Raises:
            StoredPromptNotFound: there is no such prompt.
        """

        def op(conn: Connection) -> None:
            if conn.execute("DELETE FROM prompts WHERE id = ?", (prompt_id,)).rowcount == 0:
                raise _not_found(prompt_id)

        if row_id(prompt_id) is None:
            raise _not_found(prompt_id)
        self._write(op)

    def saved_prompts(self) -> list[StoredPrompt]:
        """Every saved prompt, by name."""
        rows = self._query(f"SELECT {_COLUMNS} FROM prompts ORDER BY name COLLATE NOCASE, id")
        return [_record(r) for r in rows]

    def saved_prompt(self, prompt_id: int) -> StoredPrompt:
        """One saved prompt by id.

        Raises:
            StoredPromptNotFound: there is no such prompt.
        """
        if row_id(prompt_id) is None:
            raise _not_found(prompt_id)
        rows = self._query(f"SELECT {_COLUMNS} FROM prompts WHERE id = ?", (prompt_id,))
        if not rows:
            raise _not_found(prompt_id)
        return _record(rows[0])

    # -- a conversation's own system prompt -------------------------------------------------

    def set_conversation_system_prompt(self, conversation_id: int, body: str | None) -> None:
        """Give a conversation its own system prompt; ``None`` or empty removes it.

        Raises:
            ConversationNotFound: there is no such conversation (when setting one).
        """
        text = clean_text(body or "")
        now = self._clock()

        def op(conn: Connection) -> None:
            if not text:
                conn.execute("DELETE FROM conversation_system_prompts WHERE conversation_id = ?",
                             (conversation_id,))
                return
            if conn.execute("SELECT 1 FROM conversations WHERE id = ?",
                            (conversation_id,)).fetchone() is None:
                raise _no_conversation(conversation_id)
            conn.execute(
                "INSERT INTO conversation_system_prompts (conversation_id, body, updated) "
                "VALUES (?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE SET "
                "body = excluded.body, updated = excluded.updated",
                (conversation_id, text, now))

        if row_id(conversation_id) is None:
            if text:
                raise _no_conversation(conversation_id)
            return
        self._write(op)

    def conversation_system_prompt(self, conversation_id: int) -> str | None:
        """The conversation's own system prompt, or ``None`` when it has none."""
        if row_id(conversation_id) is None:
            return None
        rows = self._query(
            "SELECT body FROM conversation_system_prompts WHERE conversation_id = ?",
            (conversation_id,))
        return str(rows[0][0]) if rows else None

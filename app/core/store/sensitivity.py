"""Which conversations must stay on this machine: auto routing's memory between turns.

``HistoryStore`` inherits these methods. A mark is kept until the conversation is deleted:
unmarking would let the earlier, sensitive context leave with the next general question.
"""

from __future__ import annotations

from app.core.inputs import clean_text, row_id
from app.core.store.database import Connection
from app.core.store.tables import EncryptedTables

_MAX_REASON = 500


class Sensitivity(EncryptedTables):
    """Conversations marked sensitive (mixed into ``HistoryStore``)."""

    def mark_sensitive(self, conversation_id: int, reason: str, when: float) -> None:
        """Mark a conversation sensitive (a second mark keeps the first reason)."""
        text = clean_text(reason)[:_MAX_REASON]

        def op(conn: Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO sensitive_conversations (conversation_id, marked, reason) "
                "VALUES (?, ?, ?)", (conversation_id, when, text))

        self._write(op)

    def sensitive_reason(self, conversation_id: int) -> str | None:
        """Why the conversation was marked sensitive, or ``None`` when it was not."""
        if row_id(conversation_id) is None:
            return None
        rows = self._query(
            "SELECT reason FROM sensitive_conversations WHERE conversation_id = ?",
            (conversation_id,))
        return str(rows[0][0]) if rows else None

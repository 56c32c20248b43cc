"""What the history keeps beside the messages: each answer's sources, each conversation's scope.

``HistoryStore`` inherits these methods; they are apart because they are a different concern
from the messages themselves (what an answer was grounded on, which collections a
conversation answers from) and keep ``history.py`` readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from app.core.inputs import clean_text, row_id
from app.core.store.database import Connection
from app.core.store.records import StoredSource
from app.core.store.tables import EncryptedTables

_SOURCE_COLUMNS = (
    "message_id, n, collection, file, page, heading, char_start, char_end, sha256, text, flagged"
)
_IDS_PER_QUERY = 500  # below SQLite's host-parameter limit on every build


class CitedPassage(Protocol):
    """What a numbered source must carry to be stored (``app.core.docs.Source`` does)."""

    n: int
    collection: str
    file: str
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    sha256: str | None
    text: str
    flagged: bool


def _source(row: Any) -> StoredSource:
    return StoredSource(
        message_id=row[0], n=row[1], collection=row[2], file=row[3], page=row[4],
        heading=row[5], char_start=row[6], char_end=row[7], sha256=row[8], text=row[9],
        flagged=bool(row[10]),
    )


class Attachments(EncryptedTables):
    """Sources per answer and collections per conversation (mixed into ``HistoryStore``)."""

    def save_sources(self, message_id: int, sources: Sequence[CitedPassage]) -> None:
        """Keep the numbered passages ``message_id`` (an answer) was grounded on."""
        rows = [
            (message_id, s.n, clean_text(s.collection), clean_text(s.file), s.page,
             None if s.heading is None else clean_text(s.heading), s.char_start, s.char_end,
             s.sha256, clean_text(s.text), int(bool(s.flagged)))
            for s in sources
        ]
        if not rows:
            return

        def op(conn: Connection) -> None:
            conn.executemany(
                f"INSERT OR REPLACE INTO message_sources ({_SOURCE_COLUMNS}) "
                f"VALUES ({', '.join('?' * 11)})", rows)

        self._write(op)

    def sources_for(self, message_ids: Iterable[int]) -> dict[int, list[StoredSource]]:
        """The stored sources of these answers, by message id, each list in ``[n]`` order.

        Ids no row can have (beyond 64 bits, negative) are skipped, not an error: a reader
        asks for the sources of whatever messages it shows.
        """
        ids = sorted({i for i in message_ids if row_id(i) is not None})
        out: dict[int, list[StoredSource]] = {}
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start:start + _IDS_PER_QUERY]
            rows = self._query(
                f"SELECT {_SOURCE_COLUMNS} FROM message_sources "
                f"WHERE message_id IN ({', '.join('?' * len(chunk))}) ORDER BY message_id, n",
                chunk)
            for row in rows:
                out.setdefault(int(row[0]), []).append(_source(row))
        return out

    def set_scope(self, conversation_id: int, collections: Sequence[str]) -> None:
        """Make ``collections`` the ones this conversation answers from (replacing any)."""
        names = sorted({clean_text(c).strip() for c in collections} - {""})

        def op(conn: Connection) -> None:
            conn.execute("DELETE FROM conversation_collections WHERE conversation_id = ?",
                         (conversation_id,))
            conn.executemany(
                "INSERT INTO conversation_collections (conversation_id, collection) "
                "VALUES (?, ?)", [(conversation_id, n) for n in names])

        self._write(op)

    def scope(self, conversation_id: int) -> list[str]:
        """The collections this conversation answers from, by name (empty: none)."""
        if row_id(conversation_id) is None:
            return []
        rows = self._query(
            "SELECT collection FROM conversation_collections WHERE conversation_id = ? "
            "ORDER BY collection", (conversation_id,))
        return [str(r[0]) for r in rows]

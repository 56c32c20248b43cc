"""Turning what a user typed into safe FTS5 queries.

User text never reaches FTS5 as syntax: it is cut into words and every word is a quoted
string, so quotes, ``AND``, ``NEAR``, ``*``, ``:`` or parentheses are just text. Two queries
run, in order: the words as one exact phrase, then all words anywhere in the message (the
last one as a prefix, for search-as-you-type). Phrase hits therefore always rank above
messages where the same words are scattered.

Ranking is bm25, sorted inside the FTS5 index (``ORDER BY rank``) so that snippets and joins
run only for the rows returned. When even the rarest word of a query is in more than
``BROAD_MATCH_DOCS`` messages, bm25 would score every one of them to rank nothing useful;
such results come newest first instead, which FTS5 serves without scoring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.core.store.records import MARK_END, MARK_START, SearchHit

Query = Callable[[str, tuple[Any, ...]], list[Any]]

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 16
BROAD_MATCH_DOCS = 10_000


def words(query: str) -> list[str]:
    """The searchable words of a query (at most ``MAX_WORDS``)."""
    return _WORD.findall(query)[:MAX_WORDS]


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def phrase_query(query: str) -> str | None:
    """An FTS5 query matching the words as one exact phrase; ``None`` if nothing to search."""
    found = words(query)
    if not found:
        return None
    return _quote(" ".join(found))


def all_words_query(query: str) -> str | None:
    """An FTS5 query matching every word anywhere, the last as a prefix."""
    found = words(query)
    if not found:
        return None
    quoted = [_quote(w) for w in found]
    quoted[-1] += "*"
    return " AND ".join(quoted)


def rarest_word_count(read: Query, found: list[str]) -> int:
    """How many messages contain the rarest of ``found`` as a whole word (0 if unknown)."""
    if not found:
        return 0
    marks = ", ".join("?" * len(found))
    rows = read(
        f"SELECT term, doc FROM messages_fts_terms WHERE term IN ({marks})",
        tuple(w.lower() for w in found),
    )
    counts = dict(rows)
    return min(int(counts.get(w.lower(), 0)) for w in found)


def search(read: Query, query: str, limit: int) -> list[SearchHit]:
    """Run the phrase query, then the all-words query, on a read function; best first.

    Args:
        read: Runs one SQL statement with parameters and returns its rows.
        query: What the user typed.
        limit: The most hits to return.
    """
    hits: list[SearchHit] = []
    seen: set[int] = set()
    broad = rarest_word_count(read, words(query)) > BROAD_MATCH_DOCS
    order = "messages_fts.rowid DESC" if broad else "messages_fts.rank"
    for match in (phrase_query(query), all_words_query(query)):
        if match is None or len(hits) >= limit:
            continue
        rows = read(
            "SELECT m.id, m.conversation_id, c.title, m.role, "
            f"snippet(messages_fts, 0, '{MARK_START}', '{MARK_END}', '…', 16), "
            "m.created, messages_fts.rank "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN conversations c ON c.id = m.conversation_id "
            f"WHERE messages_fts MATCH ? ORDER BY {order} LIMIT ?",
            (match, limit),
        )
        for row in rows:
            if row[0] in seen or len(hits) >= limit:
                continue
            seen.add(row[0])
            hits.append(
                SearchHit(
                    message_id=row[0],
                    conversation_id=row[1],
                    conversation_title=row[2],
                    role=row[3],
                    snippet=row[4],
                    created=row[5],
                    score=row[6],
                )
            )
    return hits

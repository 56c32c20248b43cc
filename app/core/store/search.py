"""Turning what a user typed into safe FTS5 queries, ranked by bm25 within bounded work.

User text never reaches FTS5 as syntax: it is cut into words and every word is a quoted
string, so quotes, ``AND``, ``NEAR``, ``*``, ``:`` or parentheses are just text. Two queries
run, in order: the words as one exact phrase, then all words anywhere in the message (the
last one as a prefix, for search-as-you-type, once it has ``PREFIX_MIN_CHARS`` letters).
Phrase hits therefore always rank above messages where the same words are scattered.

Ranking is bm25 (k1 = 1.2, b = 0.75, as FTS5's), computed here over a bounded candidate
window: the newest ``RANK_WINDOW`` matches, which FTS5 serves from its index without scoring
(a rare query's matches all fit in it, so it is ranked whole). The all-words query runs first;
when its matches all fit in the window, the exact phrases are found among them and the
phrase query is not run at all. FTS5's own ``bm25()`` could not
be bounded this way: whatever the LIMIT or rowid range, it first counts every message holding
each query word, so one very common word cost 150 ms at a million messages. Here a word's
document frequency is counted only up to ``BROAD_MATCH_DOCS`` and, beyond that, estimated
from how far back its ``BROAD_MATCH_DOCS``-th newest message lies. When every word is that
broad, only the newest ``RECENT_SPAN`` messages are searched: a phrase of common words that
rarely stand together otherwise walks their whole lists (up to seconds at a million messages).

A one- or two-letter last word, or one that is itself a broad word, is matched as a word, not
as a prefix: FTS5 answers a prefix by merging the lists of every word that starts with it, so
a one-letter prefix took seconds at a million messages. Snippets are cut here too (about
``SNIPPET_TOKENS`` words around the first match, matches marked), so FTS5 is asked once per
query and only for ids.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from app.core.store.records import MARK_END, MARK_START, SearchHit

Query = Callable[[str, tuple[Any, ...]], list[Any]]

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 16
BROAD_MATCH_DOCS = 10_000
RANK_WINDOW = 250
# When every word is broad, only the newest messages this far back are searched.
RECENT_SPAN = 100_000
SNIPPET_TOKENS = 16
PREFIX_MIN_CHARS = 3
K1 = 1.2
B = 0.75


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
    """An FTS5 query matching every word anywhere, the last as a prefix if long enough."""
    found = words(query)
    if not found:
        return None
    quoted = [_quote(w) for w in found]
    if len(found[-1]) >= PREFIX_MIN_CHARS:
        quoted[-1] += "*"
    return " AND ".join(quoted)


def rarest_word_count(read: Query, found: list[str]) -> int:
    """How many messages contain the rarest of ``found`` as a whole word (0 if unknown).

    Counted up to ``BROAD_MATCH_DOCS + 1`` only: past that, the word is simply broad.
    """
    if not found:
        return 0
    return min(_probe(read, w.lower())[0] for w in found)


def _probe(read: Query, word: str) -> tuple[int, int | None]:
    """Messages holding ``word`` (up to ``BROAD_MATCH_DOCS + 1``) and the last rowid counted."""
    rows = read(
        "SELECT count(*), min(rowid) FROM (SELECT rowid FROM messages_fts "
        "WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?)",
        (_quote(word), BROAD_MATCH_DOCS + 1),
    )
    return int(rows[0][0]), rows[0][1]


class _Plan:
    """What one typed query asks of the index, and what its words weigh (bm25's idf)."""

    def __init__(self, read: Query, found: list[str]) -> None:
        self.found = found
        self.total = max(1, int(read("SELECT coalesce(max(id), 0) FROM messages", ())[0][0]))
        self.idf: dict[str, float] = {}
        broad: list[bool] = []
        for word in dict.fromkeys(found):
            count, last = _probe(read, word)
            df = count
            if count > BROAD_MATCH_DOCS and last is not None:
                # Messages spread evenly over ids: the n-th newest's id tells how many hold it.
                df = max(count, round(count * self.total / max(1, self.total - int(last) + 1)))
            df = min(df, self.total)
            self.idf[word] = max(1e-6, math.log((self.total - df + 0.5) / (df + 0.5)))
            broad.append(count > BROAD_MATCH_DOCS)
        # Only broad words: their lists are long, so only the newest messages are looked at.
        self.since = max(0, self.total - RECENT_SPAN) if all(broad) else 0
        typed = found[-1]
        # A prefix of a broad word would merge that word's whole list, and add little to it.
        self.prefix = len(typed) >= PREFIX_MIN_CHARS and not broad[list(self.idf).index(typed)]
        self.patterns = {w: _pattern([w], prefix=False) for w in self.idf}
        if self.prefix:
            self.patterns[typed + "*"] = _pattern([typed], prefix=True)
            self.idf[typed + "*"] = self.idf[typed]
        self.phrase = _pattern(found, prefix=False)

    def queries(self) -> list[tuple[str, list[str]]]:
        """The phrase query, then the all-words query, each with the terms it scores."""
        phrase = _quote(" ".join(self.found))
        terms = [_quote(w) for w in self.found]
        scored = list(dict.fromkeys(self.found))
        if self.prefix:
            terms[-1] += "*"
            scored = list(dict.fromkeys([*self.found[:-1], self.found[-1] + "*"]))
        return [(phrase, ["phrase"]), (" AND ".join(terms), scored)]

    def pattern(self, term: str) -> re.Pattern[str]:
        return self.phrase if term == "phrase" else self.patterns[term]

    def weight(self, term: str) -> float:
        return sum(self.idf[w] for w in self.found) if term == "phrase" else self.idf[term]


def _pattern(found: list[str], *, prefix: bool) -> re.Pattern[str]:
    body = r"\W+".join(re.escape(w) for w in found)
    return re.compile(r"(?<!\w)" + body + (r"\w*" if prefix else r"(?!\w)"), re.IGNORECASE)


def _window(read: Query, match: str, since: int) -> list[Any]:
    """The newest ``RANK_WINDOW`` matches (id, text, conversation, role, created)."""
    return read(
        "SELECT m.id, m.text, m.conversation_id, m.role, m.created FROM messages m "
        "WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? "
        "AND rowid >= ? ORDER BY rowid DESC LIMIT ?)",
        (match, since, RANK_WINDOW),
    )


def _bm25(plan: _Plan, terms: list[str], rows: list[Any]) -> list[tuple[float, Any]]:
    """(score, row) best first; equal scores: the newer message first."""
    # Words as FTS5 counts them, nearly: whitespace-separated runs (str.split runs in C).
    lengths = [max(1, len(r[1].split())) for r in rows]
    average = sum(lengths) / max(1, len(lengths))
    scored = []
    for row, length in zip(rows, lengths, strict=True):
        norm = K1 * (1 - B + B * length / average)
        score = 0.0
        for term in terms:
            # Every candidate matched in FTS5 (which also folds diacritics): at least once.
            tf = max(1, len(plan.pattern(term).findall(row[1])))
            score += plan.weight(term) * tf * (K1 + 1) / (tf + norm)
        scored.append((score, row))
    scored.sort(key=lambda item: (-item[0], -int(item[1][0])))
    return scored


def search(read: Query, query: str, limit: int) -> list[SearchHit]:
    """Run the phrase query, then the all-words query, on a read function; best first.

    Args:
        read: Runs one SQL statement with parameters and returns its rows.
        query: What the user typed.
        limit: The most hits to return.
    """
    found = [w.lower() for w in words(query)]
    if not found:
        return []
    plan = _Plan(read, found)
    (phrase, _), (all_words, terms) = plan.queries()
    scattered = _window(read, all_words, plan.since)
    if len(scattered) < RANK_WINDOW or (len(found) == 1 and not plan.prefix):
        # Every message holding all the words is here (or the two queries are one), so
        # every exact phrase is too.
        exact = [row for row in scattered if plan.phrase.search(row[1])]
    else:
        exact = _window(read, phrase, plan.since)
    marks = re.compile("|".join(plan.pattern(t).pattern for t in terms), re.IGNORECASE)
    chosen: list[tuple[float, Any, re.Pattern[str]]] = []
    seen: set[int] = set()
    for rows, scored, pattern in ((exact, ["phrase"], plan.phrase), (scattered, terms, marks)):
        for score, row in _bm25(plan, scored, rows):
            if int(row[0]) not in seen and len(chosen) < limit:
                seen.add(int(row[0]))
                chosen.append((score, row, pattern))
    return _hits(read, chosen)


def _hits(read: Query, chosen: list[tuple[float, Any, re.Pattern[str]]]) -> list[SearchHit]:
    if not chosen:
        return []
    ids = sorted({int(row[2]) for _, row, _ in chosen})
    marks = ",".join("?" * len(ids))
    titles = dict(read(f"SELECT id, title FROM conversations WHERE id IN ({marks})", tuple(ids)))
    return [
        SearchHit(message_id=int(row[0]), conversation_id=int(row[2]),
                  conversation_title=titles.get(row[2], ""), role=row[3],
                  snippet=snippet(row[1], pattern), created=row[4], score=-score)
        for score, row, pattern in chosen
    ]


def snippet(text: str, pattern: re.Pattern[str], tokens: int = SNIPPET_TOKENS) -> str:
    """About ``tokens`` words of ``text`` around its first match, matches marked (as FTS5's).

    Args:
        text: the message.
        pattern: what to mark.
        tokens: how many words to show.
    """
    spans = [m.span() for m in pattern.finditer(text) if m.end() > m.start()]
    positions = [m.start() for m in _WORD.finditer(text)]
    first = spans[0][0] if spans else 0
    at = next((i for i, p in enumerate(positions) if p >= first), 0)
    start_token = max(0, min(at - 2, len(positions) - tokens))
    begin = positions[start_token] if positions else 0
    end_token = start_token + tokens
    end = len(text)
    if end_token < len(positions):
        end = positions[end_token]
        end = begin + len(text[begin:end].rstrip())
    out = ["…" if begin > 0 else ""]
    cursor = begin
    for s, e in spans:
        if s < begin or s >= end:
            continue
        e = min(e, end)
        out += [text[cursor:s], MARK_START, text[s:e], MARK_END]
        cursor = e
    out.append(text[cursor:end])
    if end < len(text):
        out.append("…")
    return "".join(out)

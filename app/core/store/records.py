"""The values the history hands out. Times are seconds since the epoch (UTC)."""

from __future__ import annotations

from dataclasses import dataclass

# Marks around matched words in ``SearchHit.snippet``: control characters that cannot occur
# in typed text, so a front end can style them without escaping issues.
MARK_START = "\x02"
MARK_END = "\x03"


@dataclass(frozen=True)
class Conversation:
    """One conversation's header."""

    id: int
    title: str
    created: float
    updated: float
    pinned: bool
    route: str


@dataclass(frozen=True)
class Message:
    """One message; ``parent_id`` links edits and regenerations into branches."""

    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    text: str
    model_id: str | None
    model_sha256: str | None
    route: str
    created: float
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_ms: float | None
    tokens_per_s: float | None
    complete: bool


@dataclass(frozen=True)
class StoredSource:
    """A passage an answer was grounded on, numbered as the answer's ``[n]`` citation.

    ``sha256`` is the document's digest when it was cited (``None`` for indexes that did not
    record one), so a citation whose document changed since can say so.
    """

    message_id: int
    n: int
    collection: str
    file: str
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    sha256: str | None
    text: str
    flagged: bool = False

    @property
    def label(self) -> str:
        """``name p.3`` or ``name § Heading`` or ``name``."""
        name = self.file.replace("\\", "/").rsplit("/", 1)[-1]
        if self.page is not None:
            return f"{name} p.{self.page}"
        if self.heading:
            return f"{name} § {self.heading}"
        return name


@dataclass(frozen=True)
class SearchHit:
    """One search result, best first; ``snippet`` carries ``MARK_START``/``MARK_END``."""

    message_id: int
    conversation_id: int
    conversation_title: str
    role: str
    snippet: str
    created: float
    score: float

    def snippet_parts(self) -> list[tuple[str, bool]]:
        """Split the snippet into ``(text, highlighted)`` runs."""
        parts: list[tuple[str, bool]] = []
        for i, chunk in enumerate(self.snippet.split(MARK_START)):
            if i == 0:
                if chunk:
                    parts.append((chunk, False))
                continue
            marked, _, rest = chunk.partition(MARK_END)
            if marked:
                parts.append((marked, True))
            if rest:
                parts.append((rest, False))
        return parts

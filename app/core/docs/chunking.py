"""Cutting sections into overlapping chunks of about 800 characters.

Cuts prefer a paragraph break, then a sentence end, then a space, within the last fifth of the
window, so a chunk rarely splits a word or a sentence. Each chunk keeps its section's page or
heading and its exact character span in the document's extracted text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.core.docs.formats.base import Section

CHUNK_CHARS = 800
OVERLAP_CHARS = 120


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed and to quote."""

    ordinal: int
    text: str
    page: int | None
    heading: str | None
    char_start: int
    char_end: int
    hidden: bool = False


def _cut(text: str, start: int, size: int) -> int:
    end = start + size
    if end >= len(text):
        return len(text)
    floor = start + size * 4 // 5
    for sep in ("\n\n", ". ", "? ", "! ", "\n", " "):
        at = text.rfind(sep, floor, end)
        if at != -1:
            return at + len(sep)
    return end


def chunk_sections(
    sections: Iterable[Section], *, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS
) -> list[Chunk]:
    """Chunks of every section, numbered in document order."""
    chunks: list[Chunk] = []
    for section in sections:
        text = section.text
        start = 0
        while start < len(text):
            end = _cut(text, start, size)
            piece = text[start:end]
            stripped = piece.strip()
            if stripped:
                lead = len(piece) - len(piece.lstrip())
                chunks.append(Chunk(
                    ordinal=len(chunks),
                    text=stripped,
                    page=section.page,
                    heading=section.heading,
                    char_start=section.start + start + lead,
                    char_end=section.start + start + lead + len(stripped),
                    hidden=section.hidden,
                ))
            if end >= len(text):
                break
            # Step back for the overlap, but always move forward, to a word start if possible.
            nxt = max(end - overlap, start + 1)
            space = text.find(" ", nxt, end)
            start = space + 1 if space != -1 else nxt
    return chunks

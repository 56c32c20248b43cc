"""What extractors return."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.docs.errors import FileRejected

# Share of undecodable bytes above which a "text" file is taken for binary.
MAX_INVALID_RATIO = 0.01


@dataclass(frozen=True)
class Section:
    """A run of a document's text.

    Attributes:
        text: the text itself.
        start: its offset (characters) in the document's whole extracted text.
        page: 1-based page number, for paged formats.
        heading: the heading it falls under, for formats that have them.
        hidden: the text is hidden from a reader of the original (e.g. ``display:none``).
    """

    text: str
    start: int
    page: int | None = None
    heading: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class Extracted:
    """A document's sections and anything suspicious noticed while reading it."""

    sections: list[Section]
    warnings: list[str] = field(default_factory=list)


class SectionBuilder:
    """Appends sections while keeping their offsets in the whole text."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.offset = 0

    def add(
        self,
        text: str,
        *,
        page: int | None = None,
        heading: str | None = None,
        hidden: bool = False,
    ) -> None:
        """Add a section (blank text is counted in offsets but not kept)."""
        if text.strip():
            self.sections.append(Section(text, self.offset, page, heading, hidden))
        self.offset += len(text) + 1  # sections are joined by one newline


def decode_text(data: bytes) -> str:
    """Decode a text file, refusing binary content that merely has a text extension.

    Raises:
        FileRejected: the bytes contain NULs or too many invalid UTF-8 sequences.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FileRejected("binary content (invalid UTF-16 text)") from None
    if b"\x00" in data:
        raise FileRejected("binary content (NUL bytes), not text")
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd")
    if bad and bad / max(1, len(text)) > MAX_INVALID_RATIO:
        # Not UTF-8: Latin-1 text has a few high bytes in otherwise printable text.
        latin = data.decode("cp1252", errors="replace")
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in latin)
        if printable / max(1, len(latin)) < 0.95:
            raise FileRejected("binary content (not valid text in UTF-8 or Windows-1252)")
        return latin
    return text

"""Text extraction, one small module per format.

Every extractor takes the file's bytes (already read within the size cap by ``source.py``)
and returns ``Section``s: runs of text with the page or heading they came from and their
offset in the document's extracted text. A file that cannot be used raises ``FileRejected``
with the reason a user will see.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.core.docs.errors import FileRejected
from app.core.docs.formats.base import Extracted, Section
from app.core.docs.formats.csvfile import extract_csv
from app.core.docs.formats.docx import extract_docx
from app.core.docs.formats.html import extract_html
from app.core.docs.formats.pdf import extract_pdf
from app.core.docs.formats.text import extract_markdown, extract_text

Extractor = Callable[[bytes], Extracted]

EXTRACTORS: dict[str, Extractor] = {
    ".txt": extract_text,
    ".text": extract_text,
    ".md": extract_markdown,
    ".markdown": extract_markdown,
    ".html": extract_html,
    ".htm": extract_html,
    ".csv": extract_csv,
    ".docx": extract_docx,
    ".pdf": extract_pdf,
}


def supported(path: Path) -> bool:
    """Whether a file's extension names a format Enclave can index."""
    return path.suffix.lower() in EXTRACTORS


def extract(path: Path, data: bytes) -> Extracted:
    """Extract a file's text by its extension.

    Raises:
        FileRejected: unsupported type, or the content is unusable (the message says why).
    """
    extractor = EXTRACTORS.get(path.suffix.lower())
    if extractor is None:
        raise FileRejected(f"unsupported file type {path.suffix or '(none)'}")
    return extractor(data)


__all__ = ["EXTRACTORS", "Extracted", "Section", "extract", "supported"]

"""PDF through pypdf's text layer, one section per page (scanned pages have no text)."""

from __future__ import annotations

import io
import logging

from app.core.docs.errors import FileRejected
from app.core.docs.formats.base import Extracted, SectionBuilder

MAX_PAGES = 5_000


def extract_pdf(data: bytes) -> Extracted:
    """Each page's text with its 1-based page number.

    Raises:
        FileRejected: encrypted with a password, damaged, or too many pages.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf reports damaged-but-readable files at WARNING; they are ours to judge, not log.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An owner password alone (printing restrictions) opens with an empty one.
            try:
                opened = bool(reader.decrypt(""))
            except Exception:  # noqa: BLE001 - pypdf needs 'cryptography' for AES
                opened = False
            if not opened:
                raise FileRejected("encrypted PDF (needs a password)")
        pages = reader.pages
        if len(pages) > MAX_PAGES:
            raise FileRejected(f"PDF has too many pages ({len(pages)}; limit {MAX_PAGES})")
        builder = SectionBuilder()
        blank = 0
        for number, page in enumerate(pages, start=1):
            text = page.extract_text() or ""
            blank += not text.strip()
            builder.add(text, page=number)
    except FileRejected:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError,
            OSError, IndexError, AssertionError, ZeroDivisionError):
        raise FileRejected("damaged PDF (pypdf cannot read it)") from None
    if not builder.sections:
        raise FileRejected("PDF has no text layer (scanned pages?)")
    warnings = [f"{blank} page(s) without text"] if blank else []
    return Extracted(builder.sections, warnings)

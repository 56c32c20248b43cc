"""DOCX read straight from the zip: ``word/document.xml`` only, within strict limits.

A .docx is a zip, so a hostile one can be a zip bomb. Before inflating anything the declared
sizes and the compression ratio are checked; while inflating, the bytes actually produced
are counted and reading stops at the cap (declared sizes can lie). XML with a DTD is refused:
Word never writes one, and entity expansion is the other classic bomb.
"""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

from app.core.docs.errors import FileRejected
from app.core.docs.formats.base import Extracted, SectionBuilder

MAX_MEMBERS = 5_000
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_TOTAL_DECLARED = 512 * 1024 * 1024
MAX_RATIO = 100
_READ = 1024 * 1024

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DOCUMENT = "word/document.xml"


def _read_document(data: bytes) -> bytes:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FileRejected("corrupt DOCX (not a readable zip archive)") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise FileRejected(f"suspicious DOCX ({len(infos)} zip members)")
        declared = sum(i.file_size for i in infos)
        if declared > MAX_TOTAL_DECLARED:
            raise FileRejected("suspicious DOCX (zip bomb: declared contents too large)")
        try:
            info = archive.getinfo(_DOCUMENT)
        except KeyError:
            raise FileRejected("corrupt DOCX (no word/document.xml)") from None
        if info.file_size > MAX_DOCUMENT_BYTES:
            raise FileRejected("suspicious DOCX (zip bomb: document.xml declared too large)")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise FileRejected("suspicious DOCX (zip bomb: compression ratio too high)")
        if info.flag_bits & 0x1:
            raise FileRejected("encrypted DOCX (password-protected)")
        out = bytearray()
        try:
            with archive.open(info) as member:
                while chunk := member.read(_READ):
                    out += chunk
                    if len(out) > MAX_DOCUMENT_BYTES:
                        raise FileRejected("suspicious DOCX (zip bomb: inflates past the cap)")
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError):
            raise FileRejected("corrupt DOCX (document.xml cannot be inflated)") from None
        return bytes(out)


def _paragraph(p: ElementTree.Element) -> tuple[str, str | None]:
    style = None
    props = p.find(f"{_W}pPr")
    if props is not None:
        style_el = props.find(f"{_W}pStyle")
        if style_el is not None:
            style = style_el.get(f"{_W}val")
    parts: list[str] = []
    for el in p.iter():
        if el.tag == f"{_W}t" and el.text:
            parts.append(el.text)
        elif el.tag == f"{_W}tab":
            parts.append("\t")
        elif el.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts), style


def _is_heading(style: str | None) -> bool:
    s = (style or "").lower().replace(" ", "")
    return s.startswith("heading") or s == "title"


def extract_docx(data: bytes) -> Extracted:
    """Paragraph text, in sections that follow the Heading/Title paragraph styles.

    Raises:
        FileRejected: not a zip, no document part, a zip bomb, a DTD, or XML that is broken.
    """
    xml = _read_document(data)
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise FileRejected("suspicious DOCX (document.xml declares a DTD or entities)")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        raise FileRejected("corrupt DOCX (document.xml is not well-formed XML)") from None
    builder = SectionBuilder()
    heading: str | None = None
    lines: list[str] = []
    for p in root.iter(f"{_W}p"):
        text, style = _paragraph(p)
        if _is_heading(style) and text.strip():
            builder.add("\n".join(lines), heading=heading)
            heading, lines = text.strip(), [text]
        else:
            lines.append(text)
    builder.add("\n".join(lines), heading=heading)
    return Extracted(builder.sections)

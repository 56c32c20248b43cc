"""Shared helpers for the documents tests: the real embedding model and tiny documents.

Every document format is made here, in the test, from nothing: a DOCX is a zip holding a
minimal ``word/document.xml``; a PDF is written by hand with one text object per page.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from app.core.docs.embed import EmbeddingFiles
from app.core.models.catalog import default_entry
from app.core.models.digests import sha256_file
from app.core.paths import default_paths

_ENV = ("ENCLAVE_HOME", "ENCLAVE_SITE_MODELS_DIR")


def find_embedding_files() -> EmbeddingFiles:
    """The provisioned embedding model and tokenizer, found like ``default_model_file``.

    Fails (never skips) when they are missing or their digests do not match the catalog.
    """
    saved = {k: os.environ.pop(k, None) for k in _ENV}
    try:
        paths = default_paths()
    finally:
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v
    found = []
    for kind in ("embedding", "tokenizer"):
        entry = default_entry(kind)
        path = None
        for directory in (paths.user_models_dir, paths.site_models_dir):
            candidate = directory / entry.file
            if candidate.is_file() and candidate.stat().st_size == entry.size:
                path = candidate
                break
        if path is None:
            pytest.fail(f"The {kind} model {entry.file} is not provisioned; run "
                        "`.venv/bin/enclave models provision`.")
        if sha256_file(path) != entry.sha256:
            pytest.fail(f"{path} does not match the catalog's SHA-256.")
        found.append(path)
    return EmbeddingFiles(model=found[0], tokenizer=found[1])


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bytes(paragraphs: list[tuple[str | None, str]]) -> bytes:
    """A minimal DOCX: ``(style, text)`` paragraphs in ``word/document.xml``."""
    body = []
    for style, text in paragraphs:
        props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
        body.append(f"<w:p>{props}<w:r><w:t>{text}</w:t></w:r></w:p>")
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           f'<w:document xmlns:w="{_W}"><w:body>{"".join(body)}</w:body></w:document>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", xml)
    return buf.getvalue()


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal PDF with one line of Helvetica text per page (offsets computed)."""
    n = len(pages)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        ("<< /Type /Pages /Kids [" + " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
         + f"] /Count {n} >>").encode(),
    ]
    font_id = 3 + 2 * n
    for i, text in enumerate(pages):
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


FACT = "The emergency generator in building 7 is tested every second Tuesday at 06:00."


def write_corpus(folder: Path) -> dict[str, Path]:
    """Five small documents in five formats; only ``pdf`` holds the generator fact."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "txt": folder / "cafeteria.txt",
        "md": folder / "onboarding.md",
        "html": folder / "parking.html",
        "docx": folder / "travel.docx",
        "pdf": folder / "facilities.pdf",
    }
    files["txt"].write_text("The cafeteria serves lunch from noon until two. Vegetarian "
                            "options are available every day.\n")
    files["md"].write_text("# Onboarding\nNew staff receive a laptop on their first day.\n\n"
                           "## Accounts\nPasswords must be changed every ninety days.\n")
    files["html"].write_text("<html><head><style>p{color:red}</style></head><body>"
                             "<h1>Parking</h1><p>Visitors park in lot C near the gate.</p>"
                             "<script>var x = 'script text';</script></body></html>")
    files["docx"].write_bytes(docx_bytes([
        ("Heading1", "Travel policy"),
        (None, "Book flights through the travel desk at least two weeks ahead."),
    ]))
    files["pdf"].write_bytes(pdf_bytes([
        "Facilities handbook, general notes about the campus.",
        FACT,
    ]))
    return files

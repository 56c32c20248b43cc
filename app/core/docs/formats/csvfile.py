"""CSV: each row becomes one line of ``header: value`` pairs.

A chunk cut from the middle of a table then still says what each value means.
"""

from __future__ import annotations

import csv
import io

from app.core.docs.formats.base import Extracted, SectionBuilder, decode_text

ROWS_PER_SECTION = 20


def extract_csv(data: bytes) -> Extracted:
    """Rows as text, the header repeated in each row's line."""
    text = decode_text(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192])
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    builder = SectionBuilder()
    header: list[str] | None = None
    lines: list[str] = []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [h.strip() or f"column {i + 1}" for i, h in enumerate(row)]
            continue
        pairs = []
        for i, cell in enumerate(row):
            name = header[i] if i < len(header) else f"column {i + 1}"
            if cell.strip():
                pairs.append(f"{name}: {cell.strip()}")
        lines.append("; ".join(pairs))
        if len(lines) >= ROWS_PER_SECTION:
            builder.add("\n".join(lines))
            lines = []
    if header is not None and not lines and not builder.sections:
        lines.append(", ".join(header))  # a header alone still says what the file holds
    builder.add("\n".join(lines))
    return Extracted(builder.sections)

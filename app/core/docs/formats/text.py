"""Plain text and Markdown (sections follow ATX headings: ``#``, ``##``…)."""

from __future__ import annotations

import re

from app.core.docs.formats.base import Extracted, SectionBuilder, decode_text

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def extract_text(data: bytes) -> Extracted:
    """A text file as one section."""
    builder = SectionBuilder()
    builder.add(decode_text(data).replace("\r\n", "\n"))
    return Extracted(builder.sections)


def extract_markdown(data: bytes) -> Extracted:
    """A Markdown file, one section per heading (a heading line starts its section)."""
    text = decode_text(data).replace("\r\n", "\n")
    builder = SectionBuilder()
    heading: str | None = None
    lines: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            builder.add("\n".join(lines), heading=heading)
            heading, lines = match.group(2), [line]
        else:
            lines.append(line)
    builder.add("\n".join(lines), heading=heading)
    return Extracted(builder.sections)

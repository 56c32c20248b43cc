"""Small JSON files the app keeps for itself: read forgivingly, written atomically.

Caches and memories (load-probe results, engine fallbacks) are one JSON object each. A missing,
damaged or foreign file reads as empty — the cost is redoing work, never a crash — and a write
goes to a temporary file in the same directory that replaces the old one in one step, so a
crash mid-write never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_json_object(path: Path) -> dict[str, Any]:
    """The file's JSON object, or ``{}`` when it is missing, unreadable or not an object."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def write_json_atomic(
    path: Path, data: dict[str, Any], *, indent: int | None = None, sort_keys: bool = False
) -> None:
    """Replace ``path`` with ``data`` in one step, durably (fsynced before the rename).

    A directory it has to create is private to the user (0700), like every per-user one.

    Raises:
        OSError: the directory cannot be created or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=indent, sort_keys=sort_keys)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

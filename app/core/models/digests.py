"""SHA-256 of model files, computed once and cached by (path, size, mtime)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

_CHUNK = 4 * 1024 * 1024
_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    """Hash a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class DigestCache:
    """A JSON file mapping (path, size, mtime_ns) to sha256.

    A model's hash takes a noticeable fraction of a second per 100 MB; start-up and
    `models list` must not pay it again for a file that has not changed.
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self._entries: dict[str, dict[str, object]] | None = None

    def _load(self) -> dict[str, dict[str, object]]:
        if self._entries is None:
            try:
                raw = json.loads(self.file.read_text(encoding="utf-8"))
                self._entries = raw if isinstance(raw, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def sha256(self, path: Path, *, refresh: bool = False) -> str:
        """Return the file's sha256, from the cache when size and mtime are unchanged."""
        st = path.stat()
        key = str(path.resolve())
        with _lock:
            entries = self._load()
            hit = entries.get(key)
            if (
                not refresh
                and hit is not None
                and hit.get("size") == st.st_size
                and hit.get("mtime_ns") == st.st_mtime_ns
                and isinstance(hit.get("sha256"), str)
            ):
                return str(hit["sha256"])
        value = sha256_file(path)
        with _lock:
            entries = self._load()
            entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": value}
            self._save(entries)
        return value

    def remember(self, path: Path, sha256: str) -> None:
        """Record a digest computed elsewhere (an import hashes while it copies)."""
        st = path.stat()
        with _lock:
            entries = self._load()
            entries[str(path.resolve())] = {
                "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256,
            }
            self._save(entries)

    def _save(self, entries: dict[str, dict[str, object]]) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries), encoding="utf-8")
            os.replace(tmp, self.file)
        except OSError:
            pass  # a cache that cannot be written only costs time

"""GGUF metadata, read once in the limited child process and cached by (path, size, mtime).

``enclave models list`` shows architecture, size and quantisation for every model; spawning a
checker per file on every listing would cost a fraction of a second each. A file that fails the
check is cached too (with its reason), so a damaged file is not re-parsed on every listing
either; any change to the file's size or mtime makes it be read again.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from app.core.models.errors import ModelFileInvalid
from app.core.models.inspect import GGUFInfo, inspect_gguf

_lock = threading.Lock()
CACHE_VERSION = 1


class MetadataCache:
    """A JSON file mapping (path, size, mtime_ns) to what ``inspect_gguf`` said.

    Args:
        file: Where the cache lives (``cache_dir / "gguf-metadata.json"``).
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self._entries: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            try:
                raw = json.loads(self.file.read_text(encoding="utf-8"))
                ok = isinstance(raw, dict) and raw.get("version") == CACHE_VERSION
                entries = raw.get("entries") if ok else None
                self._entries = entries if isinstance(entries, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def info(self, path: Path, *, refresh: bool = False) -> GGUFInfo:
        """The file's metadata, from the cache when its size and mtime are unchanged.

        Raises:
            ModelNotFound: the file does not exist.
            ModelFileInvalid: the file is not a usable GGUF model (also when cached so).
        """
        st = path.stat()
        key = str(path.resolve())
        with _lock:
            hit = self._load().get(key)
        if (
            not refresh
            and isinstance(hit, dict)
            and hit.get("size") == st.st_size
            and hit.get("mtime_ns") == st.st_mtime_ns
        ):
            cached = _from_entry(path, hit)
            if cached is not None:
                return cached
        entry: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        try:
            info = inspect_gguf(path)
        except ModelFileInvalid as exc:
            entry.update(ok=False, message=exc.message, hint=exc.hint)
            self._store(key, entry)
            raise
        entry.update(ok=True, info=_to_probe_dict(info))
        self._store(key, entry)
        return info

    def remember(self, path: Path, info: GGUFInfo) -> None:
        """Record metadata read elsewhere (an import checks its copy before it is in place)."""
        st = path.stat()
        self._store(str(path.resolve()), {
            "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ok": True,
            "info": _to_probe_dict(info),
        })

    def forget(self, path: Path) -> None:
        """Drop a file's entry (after it was removed)."""
        with _lock:
            entries = self._load()
            if entries.pop(str(path.resolve()), None) is not None:
                self._save(entries)

    def _store(self, key: str, entry: dict[str, Any]) -> None:
        with _lock:
            entries = self._load()
            entries[key] = entry
            self._save(entries)

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".gguf-metadata-", dir=self.file.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": CACHE_VERSION, "entries": entries}, fh)
            os.replace(tmp, self.file)
        except OSError:
            pass  # a cache that cannot be written only costs time


def _to_probe_dict(info: GGUFInfo) -> dict[str, Any]:
    return {k: v for k, v in vars(info).items() if k != "path"}


def _from_entry(path: Path, entry: dict[str, Any]) -> GGUFInfo | None:
    """Rebuild the cached answer; ``None`` when the entry is unusable (read the file again)."""
    if entry.get("ok") is True and isinstance(entry.get("info"), dict):
        try:
            return GGUFInfo.from_probe(path, entry["info"])
        except (KeyError, TypeError, ValueError):
            return None
    if entry.get("ok") is False and isinstance(entry.get("message"), str):
        raise ModelFileInvalid(entry["message"], str(entry.get("hint") or ""))
    return None

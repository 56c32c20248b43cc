"""Who vouches for a model file's bytes: the approved catalog, or the user's own import.

A GGUF file names itself, so a tampered copy of an approved model still says it is that
model. Only the digest counts: bytes the catalog pins are *verified*; anything else is
*unverified*, whatever its metadata claims, and never joins an approved family.

For files the user imports, the digest seen at import is recorded in
``<data_dir>/model-imports.json`` (not the cache: clearing a cache must not forget it), so a
later change is a change, not a new file that verifies under its new digest.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from app.core.jsonstore import read_json_object, write_json_atomic
from app.core.models.catalog import CatalogEntry, entry_by_sha256

RECORDS_FILE = "model-imports.json"
UNVERIFIED = "unverified"

Kind = Literal["catalog", "catalog_mismatch", "imported", "changed", "unrecorded"]
_lock = threading.Lock()


class ModelFile(Protocol):
    """What this module needs of ``registry.InstalledModel`` (no import: no cycle)."""

    @property
    def id(self) -> str:
        """The model's id."""
        ...

    @property
    def path(self) -> Path:
        """The file."""
        ...

    @property
    def catalog(self) -> CatalogEntry | None:
        """The catalog entry pinning the file's name, if any."""
        ...


@dataclass(frozen=True)
class ImportRecord:
    """What a file was when the user imported it."""

    sha256: str
    size: int
    imported_at: str
    source: str


class ImportRecords:
    """The digests of the user's imports, by file name in the user's models directory."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def _read(self) -> dict[str, dict[str, object]]:
        models = read_json_object(self.file).get("models")
        return {k: v for k, v in models.items() if isinstance(v, dict)} if isinstance(
            models, dict) else {}

    def get(self, name: str) -> ImportRecord | None:
        """The record of the file called ``name``, if it was imported."""
        item = self._read().get(name)
        if item is None:
            return None
        sha, size = item.get("sha256"), item.get("size")
        if not isinstance(sha, str) or not isinstance(size, int):
            return None
        return ImportRecord(sha, size, str(item.get("imported_at", "")),
                            str(item.get("source", "")))

    def remember(self, path: Path, sha256: str, *, source: str) -> None:
        """Record a file's digest as imported now.

        Raises:
            OSError: the record cannot be written.
        """
        entry = {"sha256": sha256, "size": path.stat().st_size, "source": source,
                 "imported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        with _lock:
            models = self._read()
            models[path.name] = entry
            self._write(models)

    def forget(self, name: str) -> None:
        """Drop a record (the file was removed); a record that cannot be dropped stays."""
        with _lock:
            models = self._read()
            if models.pop(name, None) is not None:
                with contextlib.suppress(OSError):
                    self._write(models)

    def _write(self, models: dict[str, dict[str, object]]) -> None:
        write_json_atomic(self.file, {"version": 1, "models": models}, indent=1, sort_keys=True)


@dataclass(frozen=True)
class Provenance:
    """What vouches for one file's current bytes.

    Attributes:
        kind: ``catalog`` (the catalog pins these bytes), ``catalog_mismatch`` (the catalog
            pins this file name to other bytes), ``imported`` (unverified, unchanged since the
            user imported it), ``changed`` (unverified, changed since its import) or
            ``unrecorded`` (unverified, and no digest was recorded when it was added).
        sha256: The file's digest now.
        entry: The catalog entry that pins these bytes, or this name (``catalog_mismatch``).
        record: The import record, when there is one.
    """

    kind: Kind
    sha256: str
    entry: CatalogEntry | None = None
    record: ImportRecord | None = None

    @property
    def verified(self) -> bool:
        """Whether the approved catalog pins exactly these bytes."""
        return self.kind == "catalog"

    @property
    def intact(self) -> bool:
        """False when the bytes differ from what was approved or imported."""
        return self.kind not in ("catalog_mismatch", "changed")


def provenance_of(model: ModelFile, sha256: str, record: ImportRecord | None) -> Provenance:
    """Decide what vouches for ``model``'s bytes (``record``: its import record, if any)."""
    pinned = model.catalog
    if pinned is not None:
        kind: Kind = "catalog" if pinned.sha256 == sha256 else "catalog_mismatch"
        return Provenance(kind, sha256, pinned, record)
    entry = entry_by_sha256(sha256)
    if entry is not None:
        return Provenance("catalog", sha256, entry, record)
    if record is None:
        return Provenance("unrecorded", sha256)
    return Provenance("imported" if record.sha256 == sha256 else "changed", sha256, None, record)


def unverified_family(family: str) -> str:
    """The family an unverified file is listed under: never an approved family's name."""
    return f"{family} ({UNVERIFIED})"


def mismatch_message(model: ModelFile, prov: Provenance) -> tuple[str, str]:
    """Why a file whose bytes changed cannot be used, and what to do (message, hint)."""
    name = model.path.name
    if prov.kind == "changed" and prov.record is not None:
        when = f" on {prov.record.imported_at}" if prov.record.imported_at else ""
        return (
            f"{name} changed since it was imported{when}: its sha256 is now {prov.sha256}, "
            f"the digest recorded at import was {prov.record.sha256}.",
            "If you changed it on purpose, copy it out of the models folder, run "
            f"`enclave models remove {model.id}` and import that copy; otherwise remove it "
            "and import a trusted copy.",
        )
    approved = prov.entry.sha256 if prov.entry else "another digest"
    return (
        f"{name} is not the approved file: its sha256 is {prov.sha256}, the catalog approves "
        f"{approved}.",
        "Delete the file and run `enclave models provision` to restore the approved copy.",
    )


def unverified_note(prov: Provenance) -> str:
    """Why a usable file is not verified, in a clause (``verify`` prints it after the digest)."""
    if prov.kind == "imported":
        return ("unverified: not in the approved catalog; unchanged since you imported it"
                + (f" on {prov.record.imported_at}" if prov.record and prov.record.imported_at
                   else ""))
    return ("unverified: not in the approved catalog, and no digest was recorded when it was "
            "added (copied in, not imported), so a change cannot be detected")


def unverified_reason(prov: Provenance) -> str:
    """A sentence saying why a usable file is not verified."""
    if prov.kind == "imported":
        return ("Unverified: not in the approved catalog. Its sha256 is the one recorded when "
                "you imported it; `enclave models verify` reports any change.")
    return ("Unverified: not in the approved catalog, and no digest was recorded when it was "
            "added (it was copied in, not imported), so a change cannot be detected.")


UNVERIFIED_HINT = ("Use it only if you trust where the file came from. Ask IT to add it to the "
                   "approved catalog to make it verified.")

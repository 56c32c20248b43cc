"""An installed model file, and the inventory that finds and identifies such files.

``status``, ``versions`` and ``importer`` work on a ``ModelInventory``: the part of
``registry.ModelRegistry`` they need (finding files, their digests, metadata, provenance and
fit). They depend on this description rather than on the registry, so the registry can use
them without either side importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from app.core.models.catalog import CatalogEntry
from app.core.models.digests import DigestCache
from app.core.models.hardware import FitReport
from app.core.models.inspect import GGUFInfo
from app.core.models.load_probe import LoadProbeCache
from app.core.models.metadata import MetadataCache
from app.core.models.provenance import ImportRecords, Provenance
from app.core.paths import AppPaths

Location = Literal["site", "user"]


@dataclass(frozen=True)
class InstalledModel:
    """A GGUF file found in one of the model directories."""

    id: str
    path: Path
    location: Location
    size: int
    catalog: CatalogEntry | None

    @property
    def display_name(self) -> str:
        """A name for people."""
        return self.catalog.name if self.catalog else self.path.stem


class ModelInventory(Protocol):
    """Finds installed models and identifies their bytes; ``ModelRegistry`` is the real one.

    Attributes:
        paths: The app's directories.
        digests: File digests cached by path, size and mtime.
        metadata_cache: GGUF metadata cached like the digests.
        probes: The results of first loads in a child process, by digest.
        imports: The digests recorded when the user imported a file.
    """

    paths: AppPaths
    digests: DigestCache
    metadata_cache: MetadataCache
    probes: LoadProbeCache
    imports: ImportRecords

    def model_at(
        self, path: Path, location: Location, entry: CatalogEntry | None
    ) -> InstalledModel:
        """Describe a file in one of the model directories."""
        ...

    def installed(self) -> list[InstalledModel]:
        """Every model in the site and user directories (site first)."""
        ...

    def find(self, model_id: str | None = None) -> InstalledModel:
        """Find a model by id, file name, SHA-256 or path; ``None`` means the default."""
        ...

    def find_by_sha256(self, sha256: str) -> InstalledModel | None:
        """The installed model with these exact bytes, if any."""
        ...

    def sha256(self, model: InstalledModel, *, refresh: bool = False) -> str:
        """The file's digest."""
        ...

    def metadata(self, model: InstalledModel, *, refresh: bool = False) -> GGUFInfo:
        """The file's GGUF metadata."""
        ...

    def provenance(self, model: InstalledModel, sha256: str | None = None) -> Provenance:
        """What vouches for the file's bytes."""
        ...

    def needs_probe(self, model: InstalledModel, sha256: str) -> bool:
        """Whether a first load must be tried in a child process."""
        ...

    def fit(
        self, model: InstalledModel, context_length: int, *, gpu_allowed: bool = True
    ) -> FitReport:
        """Whether the model fits this machine's memory."""
        ...

"""The models this user can run: the machine-wide directory IT fills and the user's own.

Each model is identified by its catalog id when the catalog pins its bytes, else by its file
name without ``.gguf``. Listing is cheap (digests and metadata are cached); ``status`` says
whether a model can be used and why not; ``resolve`` does the checks that must pass before
llama.cpp sees a file. Import, families and the active model live in their own modules
(``importer``, ``versions``) and are reached through the registry; they work on the
``inventory.ModelInventory`` the registry is, so they never import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.models import importer, versions
from app.core.models.catalog import CatalogEntry, default_entry, entry_by_file, entry_by_sha256
from app.core.models.digests import DigestCache
from app.core.models.errors import (
    ModelBlocked,
    ModelDigestMismatch,
    ModelLoadFailed,
    ModelNotFound,
)
from app.core.models.hardware import FitReport, HardwareInfo, detect_hardware, fit
from app.core.models.inspect import GGUFInfo, quick_check
from app.core.models.inventory import InstalledModel, Location
from app.core.models.load_probe import LoadProbeCache, LoadProbeResult
from app.core.models.metadata import MetadataCache
from app.core.models.provenance import (
    RECORDS_FILE,
    ImportRecords,
    Provenance,
    mismatch_message,
    provenance_of,
)
from app.core.models.status import ModelStatus, PolicyView, evaluate
from app.core.paths import AppPaths
from app.core.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["InstalledModel", "ModelCheck", "ModelRegistry", "ResolvedModel"]


@dataclass(frozen=True)
class ResolvedModel:
    """A model that passed every check and may be handed to an engine."""

    model: InstalledModel
    sha256: str
    gguf: GGUFInfo
    probe: LoadProbeResult | None = None  # None: catalog-pinned bytes, not probed
    verified: bool = False  # True only when the catalog pins these exact bytes


@dataclass(frozen=True)
class ModelCheck:
    """What ``verify`` found: the digest hashed just now, what vouches for it, the status."""

    sha256: str
    provenance: Provenance
    status: ModelStatus


class ModelRegistry:
    """Finds, identifies, checks, imports and removes model files.

    Args:
        paths: The app's directories.
        hardware: This machine's memory and GPU; detected on first use when not given
            (tests describe a smaller machine to see what a user of one would see).
    """

    def __init__(self, paths: AppPaths, *, hardware: HardwareInfo | None = None) -> None:
        self.paths = paths
        self.digests = DigestCache(paths.cache_dir / "digests.json")
        self.metadata_cache = MetadataCache(paths.cache_dir / "gguf-metadata.json")
        self.probes = LoadProbeCache(paths.cache_dir / "load-probes.json")
        self.imports = ImportRecords(paths.data_dir / RECORDS_FILE)
        self._hardware = hardware

    @property
    def hardware(self) -> HardwareInfo:
        """This machine's memory and GPU (detected once)."""
        if self._hardware is None:
            self._hardware = detect_hardware()
        return self._hardware

    # --- finding ------------------------------------------------------------------------

    @staticmethod
    def model_at(path: Path, location: Location, entry: CatalogEntry | None) -> InstalledModel:
        """Describe a file in one of the model directories."""
        return InstalledModel(
            id=entry.id if entry else path.stem, path=path, location=location,
            size=path.stat().st_size, catalog=entry,
        )

    def installed(self) -> list[InstalledModel]:
        """Every ``*.gguf`` in the site and user directories (site first)."""
        found: list[InstalledModel] = []
        for location, directory in (
            ("site", self.paths.site_models_dir),
            ("user", self.paths.user_models_dir),
        ):
            try:
                files = sorted(p for p in directory.glob("*.gguf") if not p.name.startswith("."))
            except OSError:
                continue
            for path in files:
                try:
                    found.append(self.model_at(path, location, entry_by_file(path.name)))  # type: ignore[arg-type]
                except OSError:
                    continue
        return found

    def find(self, model_id: str | None = None) -> InstalledModel:
        """Find a model by id, file name, SHA-256 or path; ``None`` means the catalog's default.

        Raises:
            ModelNotFound: nothing matches; the hint says how to provision or import.
        """
        if model_id and (model_id.endswith(".gguf") or "/" in model_id):
            path = Path(model_id).expanduser()
            quick_check(path)
            entry = entry_by_file(path.name)
            return InstalledModel(
                id=entry.id if entry else path.stem, path=path, location="user",
                size=path.stat().st_size, catalog=entry,
            )
        wanted = model_id or default_entry().id
        for model in self.installed():
            if wanted in (model.id, model.path.name, model.path.stem):
                return model
        if versions.is_sha256(wanted.lower()):
            by_digest = self.find_by_sha256(wanted.lower())
            if by_digest is not None:
                return by_digest
        raise ModelNotFound(
            f"The model {wanted!r} is not installed.",
            "Run `make run` or `enclave models provision` to install the default model, "
            "or `enclave models import PATH` to add a GGUF file.",
        )

    def find_by_sha256(self, sha256: str) -> InstalledModel | None:
        """The installed model with these exact bytes, if any."""
        for model in self.installed():
            try:
                if self.sha256(model) == sha256:
                    return model
            except OSError:
                continue
        return None

    def sha256(self, model: InstalledModel, *, refresh: bool = False) -> str:
        """The file's digest (cached by path, size and mtime)."""
        return self.digests.sha256(model.path, refresh=refresh)

    def metadata(self, model: InstalledModel, *, refresh: bool = False) -> GGUFInfo:
        """The file's GGUF metadata, read in the limited child process (cached like digests).

        Raises:
            ModelNotFound: the file is gone.
            ModelFileInvalid: not GGUF, truncated, hostile metadata.
        """
        quick_check(model.path)
        return self.metadata_cache.info(model.path, refresh=refresh)

    # --- families -----------------------------------------------------------------------

    def family(self, model: InstalledModel) -> str:
        """The family a model belongs to (see ``versions.family_map``)."""
        return self.families_by_id().get(model.id, model.path.stem)

    def families_by_id(self) -> dict[str, str]:
        """Every installed model's family, by model id; unverified ones are marked so."""
        return versions.family_map(self)

    def provenance(self, model: InstalledModel, sha256: str | None = None) -> Provenance:
        """What vouches for the file's bytes: the catalog, its import record, or nothing.

        Raises:
            OSError: the file cannot be read (only when ``sha256`` is not given).
        """
        digest = sha256 if sha256 is not None else self.sha256(model)
        record = None
        try:
            if model.path.resolve().parent == self.paths.user_models_dir.resolve():
                record = self.imports.get(model.path.name)
        except OSError:
            record = None
        return provenance_of(model, digest, record)

    # --- checks -------------------------------------------------------------------------

    def needs_probe(self, model: InstalledModel, sha256: str) -> bool:
        """Whether a first load must be tried in a child process before the app loads it.

        Bytes the catalog pins were approved and tested; anything else is probed once.
        """
        return entry_by_sha256(sha256) is None

    def fit(
        self, model: InstalledModel, context_length: int, *, gpu_allowed: bool = True
    ) -> FitReport:
        """Whether the model fits this machine's memory, and GPU layers to offload.

        Raises:
            ModelFileInvalid: the metadata cannot be read.
        """
        return fit(self.metadata(model), context_length, self.hardware, gpu_allowed=gpu_allowed)

    def verify(
        self, model: InstalledModel, policy: PolicyView | None = None,
        *, context_length: int | None = None,
    ) -> ModelCheck:
        """Hash the file again (no cache) and check it against what approved or imported it.

        Raises:
            OSError: the file cannot be read.
        """
        digest = self.sha256(model, refresh=True)
        self.metadata_cache.forget(model.path)
        status = self.status(model, policy, context_length=context_length)
        return ModelCheck(digest, self.provenance(model, digest), status)

    def status(
        self,
        model: InstalledModel,
        policy: PolicyView | None = None,
        *,
        context_length: int | None = None,
    ) -> ModelStatus:
        """Ready, or why not: blocked, digest mismatch, damaged, or too large. Never raises."""
        return evaluate(self, model, policy, context_length)

    def resolve(self, model_id: str | None = None) -> ResolvedModel:
        """Find a model and run every check that must pass before loading it.

        Order: cheap header checks, the digest against the catalog (or, for the user's own
        imports, against the digest recorded at import), the full metadata parse
        in a limited child process, then (for bytes the catalog does not pin, once per file)
        a first load in a crash-proof child process.

        Raises:
            ModelNotFound: not installed.
            ModelFileInvalid: not GGUF, truncated, hostile metadata.
            ModelDigestMismatch: the catalog pins other bytes for this file name, or an
                imported file changed since its import.
            ModelLoadFailed: llama.cpp crashed or refused it in the probe.
        """
        model = self.find(model_id)
        quick_check(model.path)
        digest = self.sha256(model)
        prov = self.provenance(model, digest)
        if not prov.intact:
            raise ModelDigestMismatch(*mismatch_message(model, prov))
        if model.catalog is None and prov.entry is not None:
            model = InstalledModel(model.id, model.path, model.location, model.size, prov.entry)
        info = self.metadata(model)
        probe: LoadProbeResult | None = None
        if self.needs_probe(model, digest):
            probe = self.probes.probe(digest, model.path)
            if not probe.ok:
                raise ModelLoadFailed(
                    f"{model.path.name} cannot be used: {probe.reason}.",
                    "The file is damaged or crafted; remove it and use a trusted copy.",
                )
        return ResolvedModel(model=model, sha256=digest, gguf=info, probe=probe,
                             verified=prov.verified)

    # --- changes ------------------------------------------------------------------------

    def import_model(
        self,
        source: Path,
        *,
        max_bytes: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> importer.ImportResult:
        """Copy a GGUF file into the user's directory, checked and atomic (see ``importer``).

        Raises:
            ModelError: why the file was refused; nothing is left behind.
        """
        return importer.import_model(
            self, source, max_bytes=max_bytes or importer.MAX_IMPORT_BYTES, progress=progress
        )

    def remove(self, model_id: str) -> InstalledModel:
        """Delete a model from the user's directory.

        Raises:
            ModelNotFound: not installed.
            ModelBlocked: it is a machine-wide (site) model, or not in the user's directory.
        """
        model = self.find(model_id)
        user_dir = self.paths.user_models_dir.resolve()
        if model.location == "site" or model.path.resolve().parent != user_dir:
            raise ModelBlocked(
                f"{model.display_name} is installed machine-wide by your IT department; "
                "Enclave cannot remove it.",
                "Ask IT to remove it, or choose another model with `enclave models default ID`.",
            )
        self.metadata_cache.forget(model.path)
        model.path.unlink()
        self.imports.forget(model.path.name)
        return model

    # --- the active model ---------------------------------------------------------------

    def active_model_id(
        self, policy: Any | None = None, settings: Settings | None = None
    ) -> str | None:
        """The model new chats use: a managed policy pin, else the user's choice.

        ``None`` means the catalog's default (``find(None)``). A managed pin that is not
        installed is returned as it is, so loading it says so instead of silently using
        another model; a user's choice that was removed falls back to the default.
        """
        return versions.active_model_id(self, policy, settings)

    def set_default(
        self, model_id: str, settings: Settings, policy: Any | None = None
    ) -> InstalledModel:
        """Make a model the active one and remember the one it replaces.

        Raises:
            ModelNotFound: not installed.
            ModelBlocked, ModelFileInvalid, ModelDigestMismatch: its status forbids it.
            SettingLocked: a managed policy pins ``models.default``.
        """
        return versions.set_default(self, model_id, settings, policy)

    def restore_previous(self, settings: Settings, policy: Any | None = None) -> InstalledModel:
        """Go back to the model that was active before the last change.

        Raises:
            ModelNotFound: there is none, or it is no longer installed.
            SettingLocked: a managed policy pins ``models.default``.
        """
        return versions.restore_previous(self, settings, policy)

    def default_history(self) -> versions.DefaultHistory:
        """The active and previous digests as ``models-state.json`` records them."""
        return versions.read_history(self.paths.config_dir)

    def _write_history(self, history: versions.DefaultHistory) -> None:
        versions.write_history(self.paths.config_dir, history)

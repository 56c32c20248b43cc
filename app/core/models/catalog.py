"""The approved-model catalog (``models/catalog.toml``).

A model's bytes come from one member of one wheel (``source``) or, for a file too large for
one package, from the members of several wheels joined in order (``parts``); either way the
joined bytes must have the catalog's size and SHA-256. ``license_source`` names a member
whose text (a licence or terms of use) is installed beside the model, and ``license_url``
where the terms are published. ``alias`` is the short name ``enclave models provision
--with NAME`` takes for a model that is not installed by default.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.core.errors import ConfigurationError


@dataclass(frozen=True)
class ModelSource:
    """Where an approved model's bytes come from: one member of a wheel on the registry."""

    package: str
    version: str
    member: str


@dataclass(frozen=True)
class CatalogEntry:
    """One approved model, pinned by its exact bytes."""

    id: str
    name: str
    family: str
    kind: str
    file: str
    size: int
    sha256: str
    license: str
    default: bool
    source: ModelSource | None
    parts: tuple[ModelSource, ...] = ()
    license_source: ModelSource | None = None
    license_url: str = ""
    alias: str = ""

    @property
    def wheels(self) -> tuple[ModelSource, ...]:
        """Every wheel provisioning needs: the parts (or the one source), then the licence's."""
        model = self.parts or ((self.source,) if self.source else ())
        extra = (self.license_source,) if self.license_source else ()
        return tuple(dict.fromkeys((*model, *extra)))


def catalog_file() -> Path:
    """Locate ``models/catalog.toml``: frozen bundle, source tree, or an installed wheel."""
    base = getattr(sys, "_MEIPASS", None)
    if base:
        return Path(base) / "models" / "catalog.toml"
    in_tree = Path(__file__).resolve().parents[3] / "models" / "catalog.toml"
    if in_tree.is_file():
        return in_tree
    return Path(sys.prefix) / "share" / "enclave" / "models" / "catalog.toml"


@lru_cache(maxsize=4)
def load_catalog(path: Path | None = None) -> tuple[CatalogEntry, ...]:
    """Read the catalog.

    Raises:
        ConfigurationError: if the catalog is missing or malformed (an installation problem).
    """
    path = path or catalog_file()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        entries = []
        for item in raw.get("model", []):
            src = item.get("source")
            lic = item.get("license_source")
            entries.append(
                CatalogEntry(
                    id=item["id"],
                    name=item["name"],
                    family=item.get("family", item["id"]),
                    kind=item.get("kind", "chat"),
                    file=item["file"],
                    size=int(item["size"]),
                    sha256=item["sha256"].lower(),
                    license=item.get("license", ""),
                    default=bool(item.get("default", False)),
                    source=ModelSource(src["package"], src["version"], src["member"])
                    if src
                    else None,
                    parts=tuple(ModelSource(p["package"], p["version"], p["member"])
                                for p in item.get("parts", [])),
                    license_source=ModelSource(lic["package"], lic["version"], lic["member"])
                    if lic else None,
                    license_url=str(item.get("license_url", "")),
                    alias=str(item.get("alias", "")),
                )
            )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"The model catalog {path} cannot be read ({type(exc).__name__}: {exc}).",
            "Reinstall Enclave.",
        ) from None
    return tuple(entries)


def default_entry(kind: str = "chat") -> CatalogEntry:
    """The catalog's default model of a kind."""
    entries = [e for e in load_catalog() if e.kind == kind]
    for entry in entries:
        if entry.default:
            return entry
    if not entries:
        raise ConfigurationError(f"The model catalog lists no {kind} model.", "Reinstall Enclave.")
    return entries[0]


def entry_by_sha256(sha256: str) -> CatalogEntry | None:
    """The catalog entry pinning these bytes, if any."""
    for entry in load_catalog():
        if entry.sha256 == sha256.lower():
            return entry
    return None


def entry_by_file(name: str) -> CatalogEntry | None:
    """The catalog entry for a file name, if any."""
    for entry in load_catalog():
        if entry.file == name:
            return entry
    return None

"""Import a GGUF file the user picked into their model directory, all or nothing.

The copy goes to a private folder beside the destination (same file system), is flushed to
disk, checked there (header, metadata in the limited child process, catalog pin, chat
template and a first load in a crash-proof child), and only then linked into place under its
final name, and its digest is recorded (``provenance``) so that a later change is noticed.
An error, Ctrl-C or SIGTERM removes the folder; a folder left by a process that was killed
outright is removed by the next import (its name carries the dead process's id).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.models.catalog import entry_by_file, entry_by_sha256
from app.core.models.errors import ModelDigestMismatch, ModelError, ModelFileInvalid
from app.core.models.inspect import GGUFInfo, inspect_gguf, quick_check
from app.core.models.inventory import InstalledModel, ModelInventory
from app.core.models.load_probe import LoadProbeResult, probe_load

MAX_IMPORT_BYTES = 64 * 1024**3
FREE_SPACE_MARGIN = 512 * 1024**2  # leave the disk usable after the copy
TEMP_PREFIX = ".import-"
_CHUNK = 4 * 1024 * 1024

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportResult:
    """A model that was checked and installed in the user's directory."""

    model: InstalledModel
    sha256: str
    info: GGUFInfo
    probe: LoadProbeResult


class ImportRefused(ModelError):
    """The file was not imported; nothing was left behind."""


def remove_stale_imports(directory: Path) -> None:
    """Remove temporary folders left by imports whose process no longer exists."""
    import psutil  # ~30 ms that only an import needs, not every start-up

    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX) or not entry.is_dir():
            continue
        try:
            pid = int(entry.name[len(TEMP_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not psutil.pid_exists(pid):
            shutil.rmtree(entry, ignore_errors=True)


def _target_name(source: Path) -> str:
    return source.name if source.name.lower().endswith(".gguf") else f"{source.name}.gguf"


def _copy(source: Path, target: Path, size: int, progress: Progress | None) -> str:
    """Copy, flush to disk and hash what was written."""
    digest = hashlib.sha256()
    done = 0
    with open(source, "rb") as src, open(
        os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb", closefd=True
    ) as dst:
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, size)
        dst.flush()
        os.fsync(dst.fileno())
    if done != size:
        raise ImportRefused(
            f"{source.name} changed while it was being copied ({done} of {size} bytes).",
            "Wait until the file is complete, then import it again.",
        )
    return digest.hexdigest()


def _check_room(source: Path, size: int, directory: Path, max_bytes: int) -> None:
    if size > max_bytes:
        raise ImportRefused(
            f"{source.name} is {size / 1024**3:.1f} GiB, more than the {max_bytes / 1024**3:.1f} "
            "GiB Enclave imports.",
            "Choose a smaller quantisation of the model.",
        )
    free = shutil.disk_usage(directory).free
    if size + FREE_SPACE_MARGIN > free:
        raise ImportRefused(
            f"Not enough disk space to import {source.name}: it needs {size / 1024**2:.0f} MiB "
            f"and {free / 1024**2:.0f} MiB are free.",
            "Free some disk space, then import it again.",
        )


def _refuse_taken_name(registry: ModelInventory, name: str) -> None:
    for model in registry.installed():
        if model.path.name == name or model.path.stem == Path(name).stem:
            raise ImportRefused(
                f"A model named {name} is already installed ({model.location}).",
                "Rename the file you are importing, or remove the installed one first.",
            )


def _refuse_same_bytes(registry: ModelInventory, digest: str) -> None:
    model = registry.find_by_sha256(digest)
    if model is not None:
        raise ImportRefused(
            f"This model is already installed as {model.id} ({model.location}).",
            f"Use it with `enclave models default {model.id}`.",
        )


def import_model(
    registry: ModelInventory,
    source: Path,
    *,
    max_bytes: int = MAX_IMPORT_BYTES,
    progress: Progress | None = None,
    probe: Callable[[Path], LoadProbeResult] = probe_load,
) -> ImportResult:
    """Copy ``source`` into the user's model directory after checking the copy.

    Raises:
        ModelNotFound: the source does not exist.
        ModelFileInvalid: not GGUF, truncated, hostile metadata or template, or llama.cpp
            cannot load it (a crash included: it happens in a child process).
        ModelDigestMismatch: the catalog pins other bytes for this file name.
        ImportRefused: too large, no disk space, already installed, or name taken.
    """
    source = source.expanduser()
    quick_check(source)  # not GGUF / not a file / too small: say so before copying anything
    directory = registry.paths.user_models_dir
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    size = source.stat().st_size
    _check_room(source, size, directory, max_bytes)
    name = _target_name(source)
    final = directory / name
    _refuse_taken_name(registry, name)
    remove_stale_imports(directory)
    staging = directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        # Created inside the try: a Ctrl-C or SIGTERM right after mkdir still removes it.
        staging.mkdir(mode=0o700)
        # Same name inside the staging folder: every message names the file the user knows.
        staged = staging / name
        digest = _copy(source, staged, size, progress)
        quick_check(staged)
        info = inspect_gguf(staged)
        pinned = entry_by_file(name)
        if pinned is not None and pinned.sha256 != digest:
            raise ModelDigestMismatch(
                f"{name} is not the approved file the catalog names: its sha256 is {digest}, "
                f"the catalog approves {pinned.sha256}.",
                "Import the approved copy, or rename the file if it is a different model.",
            )
        _refuse_same_bytes(registry, digest)
        result = registry.probes.probe(digest, staged, runner=probe)
        if not result.ok:
            raise ModelFileInvalid(
                f"{name} was not imported: {result.reason}.",
                "The file is damaged, crafted, or needs a newer Enclave; use a trusted copy.",
            )
        _install(staged, final)
        _record(registry, final, digest, source)
    finally:
        _remove_staging(staging)
    registry.digests.remember(final, digest)
    registry.metadata_cache.remember(final, info)
    entry = pinned or entry_by_sha256(digest)
    model = registry.model_at(final, "user", entry)
    return ImportResult(model=model, sha256=digest, info=info, probe=result)


def _record(registry: ModelInventory, final: Path, digest: str, source: Path) -> None:
    """Record the digest seen at import, so a later change to the file is noticed.

    Without the record the import is undone: an imported file must always be checkable.
    """
    try:
        registry.imports.remember(final, digest, source=str(source.absolute()))
    except OSError as exc:
        with contextlib.suppress(OSError):
            final.unlink()
        raise ImportRefused(
            f"{final.name} was not imported: its digest could not be recorded "
            f"({exc.strerror or exc}).",
            f"Check that {registry.imports.file.parent} is writable, then import it again.",
        ) from None


def _remove_staging(staging: Path) -> None:
    """Remove the staging folder even when another Ctrl-C or SIGTERM lands during the removal.

    The interrupt is re-raised once the folder is gone, so the command still stops.
    """
    interrupted: KeyboardInterrupt | None = None
    while True:
        try:
            shutil.rmtree(staging, ignore_errors=True)
            break
        except KeyboardInterrupt as exc:  # a second signal: finish the cleanup first
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def _install(staged: Path, final: Path) -> None:
    """Put the checked copy in place without ever replacing an existing file."""
    try:
        os.link(staged, final)  # atomic, and fails if the name was taken meanwhile
    except FileExistsError:
        raise ImportRefused(
            f"A model named {final.name} appeared while importing.",
            "Rename the file you are importing, or remove the installed one first.",
        ) from None
    except OSError:
        # File systems without hard links: a rename is atomic too (and we checked the name).
        if final.exists():
            raise ImportRefused(f"A model named {final.name} is already installed.") from None
        os.replace(staged, final)
    with contextlib.suppress(OSError):  # make the new directory entry durable
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

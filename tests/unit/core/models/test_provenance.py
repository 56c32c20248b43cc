"""Only the catalog's bytes are verified; an import is checked against what it was.

A GGUF file names itself, so a tampered copy of an approved model still claims to be that
model. Enclave must not believe it: anything whose digest the catalog does not list is
*unverified*, outside the approved family, and a file that changes after its import is
reported as changed rather than re-verified under its new digest.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.models.catalog import default_entry
from app.core.models.digests import sha256_file
from app.core.models.errors import ModelDigestMismatch, ModelError
from app.core.models.provenance import UNVERIFIED, ImportRecords
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths
from tests.unit.core.models.conftest import REAL_NAME, leftovers, write_small_gguf

pytestmark = pytest.mark.model

DATA_START = 1_785_664  # where the default model's tensor data begins (gguf.GGUFReader)


def flipped_copy(source: Path, target: Path, offset: int, mask: int = 0x01) -> Path:
    data = bytearray(source.read_bytes())
    data[offset] ^= mask
    target.write_bytes(bytes(data))
    return target


def _name_offset(model: Path) -> int:
    return model.read_bytes().index(REAL_NAME)


@pytest.mark.slow
@pytest.mark.parametrize(
    "where",
    ["magic", "version", "metadata name", "first tensor byte", "middle of the weights",
     "last byte"],
)
def test_a_flipped_copy_of_the_default_model_is_never_verified(
    app_paths: AppPaths, tmp_path: Path, default_model_file: Path, where: str
) -> None:
    size = default_model_file.stat().st_size
    offset = {
        "magic": 0, "version": 4, "metadata name": _name_offset(default_model_file),
        "first tensor byte": DATA_START, "middle of the weights": (DATA_START + size) // 2,
        "last byte": size - 1,
    }[where]
    source = flipped_copy(default_model_file, tmp_path / "smollm2-copy.gguf", offset)
    registry = ModelRegistry(app_paths)
    try:
        result = registry.import_model(source)
    except ModelError:
        assert leftovers(app_paths.user_models_dir) == []  # refused outright: fine
        return
    model = result.model
    assert model.catalog is None and model.id == "smollm2-copy"
    status = registry.status(model)
    assert status.state == "unverified" and status.usable
    assert "not in the approved catalog" in status.reason
    assert not registry.provenance(model).verified
    family = registry.family(model)
    assert family != default_entry().family and UNVERIFIED in family
    check = registry.verify(model)
    assert not check.provenance.verified and check.status.state == "unverified"


def test_the_same_copy_under_the_catalog_name_is_a_digest_mismatch(
    app_paths: AppPaths, default_model_file: Path
) -> None:
    target = app_paths.user_models_dir / default_entry().file
    flipped_copy(default_model_file, target, DATA_START + 12345)
    registry = ModelRegistry(app_paths)
    model = registry.find()
    assert registry.status(model).state == "digest_mismatch"
    assert registry.family(model) != default_entry().family
    with pytest.raises(ModelDigestMismatch):
        registry.resolve()


def test_the_real_model_stays_verified(model_paths: AppPaths) -> None:
    registry = ModelRegistry(model_paths)
    model = registry.find()
    check = registry.verify(model)
    assert check.provenance.verified and check.provenance.kind == "catalog"
    assert check.status.state == "ready"
    assert registry.family(model) == default_entry().family


def test_an_import_that_changes_later_is_reported_not_reverified(
    model_paths: AppPaths, tmp_path: Path, default_model_file: Path
) -> None:
    source = flipped_copy(default_model_file, tmp_path / "mine.gguf", DATA_START + 7)
    registry = ModelRegistry(model_paths)
    result = registry.import_model(source)
    recorded = result.sha256
    assert registry.verify(result.model).provenance.kind == "imported"

    installed = result.model.path
    flipped_copy(installed, installed, DATA_START + 99)
    check = registry.verify(registry.find("mine"))
    assert check.sha256 != recorded
    assert check.provenance.kind == "changed" and check.status.state == "digest_mismatch"
    assert "changed since it was imported" in check.status.reason
    assert recorded[:12] in check.status.reason and check.sha256[:12] in check.status.reason
    assert "enclave models remove mine" in check.status.hint
    with pytest.raises(ModelDigestMismatch, match="changed since it was imported"):
        registry.resolve("mine")

    registry.remove("mine")  # the record goes with the file
    assert ImportRecords(model_paths.data_dir / "model-imports.json").get("mine.gguf") is None


def test_a_file_copied_in_by_hand_is_unverified_without_a_record(
    model_paths: AppPaths, tmp_path: Path, default_model_file: Path
) -> None:
    target = model_paths.user_models_dir / "dropped.gguf"
    shutil.copy(flipped_copy(default_model_file, tmp_path / "x.gguf", DATA_START + 3), target)
    registry = ModelRegistry(model_paths)
    check = registry.verify(registry.find("dropped"))
    assert check.provenance.kind == "unrecorded" and check.status.state == "unverified"
    assert "no digest was recorded" in check.status.reason


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.floats(min_value=0, max_value=1, exclude_max=True),
       mask=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_an_imported_file_is_caught(
    app_paths: AppPaths, at: float, mask: int
) -> None:
    # Recorded as an import would record it (a small GGUF is not a runnable model, so the real
    # import would refuse it); the change keeps the size and the modification time, so only a
    # fresh hash can see it.
    directory = app_paths.user_models_dir
    for p in directory.iterdir():
        p.unlink()
    path = write_small_gguf(directory / "small.gguf")
    registry = ModelRegistry(app_paths)
    registry.imports.remember(path, sha256_file(path), source="test")
    before = registry.sha256(registry.find("small"))
    stat = path.stat()
    flipped_copy(path, path, int(at * stat.st_size), mask)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    check = registry.verify(registry.find("small"))
    assert check.sha256 != before
    assert (check.provenance.kind, check.status.state) == ("changed", "digest_mismatch")

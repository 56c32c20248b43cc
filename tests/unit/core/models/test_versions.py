"""Versions of one model are grouped; the user picks one and can go back to the one before."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.models.catalog import default_entry
from app.core.models.errors import ModelNotFound
from app.core.models.inspect import inspect_gguf
from app.core.models.registry import ModelRegistry
from app.core.models.versions import metadata_family
from app.core.paths import AppPaths
from app.core.settings import SettingLocked, Settings
from tests.unit.core.models.conftest import REAL_NAME, renamed_copy
from tests.unit.core.models.test_status import managed_policy

pytestmark = pytest.mark.model


@pytest.fixture
def v2(model_paths: AppPaths, tmp_path: Path, default_model_file: Path) -> str:
    """A second version of the default model, imported by the user."""
    source = renamed_copy(default_model_file, tmp_path / "smollm2-v2.gguf", REAL_NAME,
                          REAL_NAME[:-1] + b"3")
    return ModelRegistry(model_paths).import_model(source).model.id


def test_versions_share_a_family_but_only_the_catalog_verifies(
    model_paths: AppPaths, v2: str
) -> None:
    # v2 claims (in its metadata) to be the approved model; it is grouped with it, but marked.
    families = ModelRegistry(model_paths).families_by_id()
    assert families == {default_entry().id: "smollm2-135m-instruct",
                        v2: "smollm2-135m-instruct (unverified)"}


def test_metadata_family_from_basename_and_size(default_model_file: Path) -> None:
    assert metadata_family(inspect_gguf(default_model_file)) == "smollm2-135m"


def test_default_then_previous(model_paths: AppPaths, v2: str) -> None:
    registry = ModelRegistry(model_paths)
    settings = Settings.load(model_paths)
    assert registry.active_model_id(None, settings) is None  # the catalog default
    registry.set_default(v2, settings)
    assert registry.active_model_id(None, Settings.load(model_paths)) == v2
    stored = Settings.load(model_paths).get("models.default")
    assert stored == registry.sha256(registry.find(v2))
    registry.restore_previous(Settings.load(model_paths))
    assert registry.active_model_id(None, Settings.load(model_paths)) == default_entry().id
    registry.restore_previous(Settings.load(model_paths))  # and back again
    assert registry.active_model_id(None, Settings.load(model_paths)) == v2


def test_no_previous_yet(model_paths: AppPaths) -> None:
    with pytest.raises(ModelNotFound, match="no previous model"):
        ModelRegistry(model_paths).restore_previous(Settings.load(model_paths))


def test_removed_choice_falls_back_to_the_default(model_paths: AppPaths, v2: str) -> None:
    registry = ModelRegistry(model_paths)
    registry.set_default(v2, Settings.load(model_paths))
    registry.remove(v2)
    assert registry.active_model_id(None, Settings.load(model_paths)) is None


def test_managed_pin_wins_and_cannot_be_changed(
    model_paths: AppPaths, v2: str, tmp_path: Path
) -> None:
    registry = ModelRegistry(model_paths)
    Settings.load(model_paths).set("models.default", registry.sha256(registry.find()))
    pinned = registry.sha256(registry.find(v2))
    policy = managed_policy(tmp_path, {"models": {"default": pinned}})
    settings = Settings.load(model_paths, policy)
    assert registry.active_model_id(policy, settings) == v2
    with pytest.raises(SettingLocked, match="managed by your organization"):
        registry.set_default(default_entry().id, settings, policy)


def test_a_blocked_model_cannot_become_the_default(
    model_paths: AppPaths, v2: str, tmp_path: Path
) -> None:
    from app.core.models.errors import ModelBlocked

    registry = ModelRegistry(model_paths)
    policy = managed_policy(
        tmp_path, {"models": {"allowed_sha256": [registry.sha256(registry.find())]}}
    )
    with pytest.raises(ModelBlocked, match="not on your organization's list"):
        registry.set_default(v2, Settings.load(model_paths, policy), policy)

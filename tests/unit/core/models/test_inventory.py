"""An installed model file, described the same way whichever helper looks at it."""

from __future__ import annotations

from pathlib import Path

from app.core.models.catalog import default_entry
from app.core.models.inventory import InstalledModel, ModelInventory
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths


def test_a_catalog_model_is_named_by_the_catalog_and_any_other_by_its_file() -> None:
    entry = default_entry()
    pinned = InstalledModel(entry.id, Path("/m") / entry.file, "site", 1, entry)
    other = InstalledModel("mine", Path("/m/mine-q4.gguf"), "user", 1, None)
    assert (pinned.display_name, other.display_name) == (entry.name, "mine-q4")


def test_the_registry_is_the_inventory_its_helpers_see(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paths = AppPaths.under(home, site_models_dir=home / "site", policy_root=tmp_path / "p")
    inventory: ModelInventory = ModelRegistry(paths)
    assert inventory.installed() == []
    file = tmp_path / "mine.gguf"
    file.write_bytes(b"GGUF")
    assert inventory.model_at(file, "user", None) == InstalledModel("mine", file, "user", 4, None)

"""Every setting has bounds a typo cannot cross, on every face."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.paths import AppPaths
from app.core.settings import InvalidSettingValue, Settings


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    home = tmp_path / "home"
    return AppPaths.under(home, site_models_dir=home / "site", policy_root=tmp_path / "policies")


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("engine.context_length", "99999999999"),
        ("engine.context_length", "1180591620717411303424"),
        ("engine.gpu_layers", "99999999999"),
        ("generation.max_tokens", "99999999999"),
        ("generation.max_tokens", "-5"),
        ("generation.temperature", "NaN"),
        ("generation.temperature", "Infinity"),
        ("generation.top_p", "2"),
        ("generation.seed", "99999999999999"),
        ("history.retention_days", "99999999999"),
    ],
)
def test_settings_set_refuses_out_of_bounds_numbers_as_out_of_bounds(
    paths: AppPaths, key: str, text: str
) -> None:
    settings = Settings.load(paths, None)
    with pytest.raises(InvalidSettingValue) as caught:
        settings.set_from_text(key, text)
    assert "valid integer" not in caught.value.message  # the number is named as a number
    assert settings.get(key) == Settings.load(paths, None).get(key)  # nothing was written


def test_a_hand_edited_file_with_nan_falls_back_to_the_default(paths: AppPaths) -> None:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    (paths.config_dir / "settings.json").write_text(
        '{"schema_version": 1, "generation": {"temperature": NaN, "max_tokens": 1e400}}'
    )
    settings = Settings.load(paths, None)
    assert settings.get("generation.temperature") == 0.7
    assert settings.get("generation.max_tokens") == 512
    json.dumps(settings.report())  # still reportable

"""User settings under the administrator's policy, on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.core import settings as settings_module
from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy, load_policy
from app.core.policy.schema import POLICY_KEYS
from app.core.settings import (
    SETTING_KEYS,
    InvalidSettingValue,
    OffUnless,
    SettingLocked,
    Settings,
    SettingsError,
    UnknownSetting,
    policy_limits,
)
from tests.policies import policy_root


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    home = tmp_path / "home"
    return AppPaths.under(home, site_models_dir=home / "site", policy_root=tmp_path / "policies")


def policy_with(
    paths: AppPaths,
    managed: dict[str, Any] | None = None,
    recommended: dict[str, Any] | None = None,
) -> EffectivePolicy:
    root = policy_root(paths.policy_root.parent, managed, recommended,
                       name=paths.policy_root.name, file_name="10.json")
    return load_policy(root)


def user_file(paths: AppPaths) -> Path:
    return paths.config_dir / "settings.json"


@pytest.mark.parametrize("key", sorted(SETTING_KEYS))
def test_every_setting_has_a_description_and_a_valid_default(key: str, paths: AppPaths) -> None:
    spec = SETTING_KEYS[key]
    assert spec.description.strip()
    settings = Settings.load(paths, None)
    assert settings.get(key) == spec.default()


@pytest.mark.parametrize("key", sorted(k for k in SETTING_KEYS if policy_limits(SETTING_KEYS[k])))
def test_every_declared_limit_names_a_policy_key_and_fits_its_setting(key: str) -> None:
    spec = SETTING_KEYS[key]
    for limit in policy_limits(spec):
        assert limit.policy_key in POLICY_KEYS
        if isinstance(limit, OffUnless):
            spec.section.model_validate({spec.field: limit.off})


def test_the_engine_limits_are_declared_on_their_settings() -> None:
    declared = {
        key: [limit.policy_key for limit in policy_limits(spec)]
        for key, spec in SETTING_KEYS.items()
        if policy_limits(spec)
    }
    assert declared == {
        "engine.context_length": ["engine.max_context"],
        "engine.gpu_layers": ["engine.gpu_allowed"],
    }


def test_expected_defaults(paths: AppPaths) -> None:
    settings = Settings.load(paths, None)
    assert settings.get("generation.temperature") == 0.7
    assert settings.get("generation.seed") == -1
    assert settings.get("engine.gpu_layers") == -1
    assert settings.get("ui.theme") == "system"
    assert settings.get("models.default") is None


# (key, user value, recommended value, managed value)
MATRIX = [
    ("history.retention_days", 90, 30, 7),  # int
    ("models.default", "mine", "recommended", "managed"),  # str
]


@pytest.mark.parametrize(("key", "mine", "rec", "man"), MATRIX)
@pytest.mark.parametrize("levels", ["", "u", "r", "m", "ur", "um", "rm", "urm"])
def test_precedence_managed_user_recommended_default(
    paths: AppPaths, key: str, mine: Any, rec: Any, man: Any, levels: str
) -> None:
    section, name = key.split(".")
    policy = policy_with(
        paths,
        managed={section: {name: man}} if "m" in levels else None,
        recommended={section: {name: rec}} if "r" in levels else None,
    )
    if "u" in levels:
        Settings.load(paths, None).set(key, mine)
    state = Settings.load(paths, policy).state(key)
    if "m" in levels:
        assert (state.value, state.locked, state.level) == (man, True, "managed")
    elif "u" in levels:
        assert (state.value, state.locked, state.level) == (mine, False, "user")
    elif "r" in levels:
        assert (state.value, state.locked, state.level) == (rec, False, "recommended")
    else:
        assert (state.value, state.locked, state.level) == (
            SETTING_KEYS[key].default(),
            False,
            "default",
        )


def test_a_locked_setting_refuses_set(paths: AppPaths) -> None:
    policy = policy_with(paths, managed={"history": {"retention_days": 7}})
    settings = Settings.load(paths, policy)
    with pytest.raises(
        SettingLocked, match="history.retention_days is managed by your organization"
    ):
        settings.set("history.retention_days", 365)
    assert SettingLocked.exit_code != 0
    assert not user_file(paths).exists()


def test_policy_values_are_never_written_to_the_user_file(paths: AppPaths) -> None:
    policy = policy_with(
        paths,
        managed={"history": {"retention_days": 7}},
        recommended={"models": {"default": "granite"}},
    )
    settings = Settings.load(paths, policy)
    settings.set("ui.theme", "dark")
    on_disk = json.loads(user_file(paths).read_text())
    assert on_disk == {"schema_version": 1, "ui": {"theme": "dark"}}
    assert settings.get("models.default") == "granite"


def test_users_own_value_survives_a_policy_that_locks_it(paths: AppPaths) -> None:
    Settings.load(paths, None).set("history.retention_days", 90)
    locked = Settings.load(paths, policy_with(paths, managed={"history": {"retention_days": 7}}))
    assert locked.get("history.retention_days") == 7
    locked.set("ui.font_size", 14)  # writing something else keeps the user's own value
    assert Settings.load(paths, None).get("history.retention_days") == 90


def test_set_validates_and_persists(paths: AppPaths) -> None:
    settings = Settings.load(paths, None)
    settings.set("generation.temperature", 0.2)
    with pytest.raises(InvalidSettingValue):
        settings.set("generation.temperature", 9)
    with pytest.raises(InvalidSettingValue):
        settings.set("ui.theme", "neon")
    with pytest.raises(UnknownSetting):
        settings.set("ui.colour", "x")
    assert Settings.load(paths, None).get("generation.temperature") == 0.2
    assert oct(user_file(paths).stat().st_mode & 0o777) == oct(0o600)


def test_set_from_text(paths: AppPaths) -> None:
    settings = Settings.load(paths, None)
    settings.set_from_text("generation.top_k", "20")
    settings.set_from_text("ui.theme", "dark")
    settings.set_from_text("models.default", "123")
    assert (settings.get("generation.top_k"), settings.get("ui.theme")) == (20, "dark")
    assert settings.get("models.default") == "123"


def test_a_corrupt_file_is_kept_aside_and_defaults_apply(paths: AppPaths) -> None:
    paths.config_dir.mkdir(parents=True)
    user_file(paths).write_text('{"ui": {"theme": "da')
    settings = Settings.load(paths, None)
    assert settings.get("ui.theme") == "system"
    assert any("corrupt" in w for w in settings.warnings)
    aside = list(paths.config_dir.glob("settings.json.bad-*"))
    assert len(aside) == 1
    assert aside[0].read_text() == '{"ui": {"theme": "da'
    settings.set("ui.theme", "light")
    assert aside[0].read_text() == '{"ui": {"theme": "da'


def test_a_bad_value_is_ignored_but_kept_in_the_file(paths: AppPaths) -> None:
    paths.config_dir.mkdir(parents=True)
    user_file(paths).write_text('{"schema_version": 1, "ui": {"theme": "neon", "font_size": 13}}')
    settings = Settings.load(paths, None)
    assert (settings.get("ui.theme"), settings.get("ui.font_size")) == ("system", 13)
    assert any("ui.theme" in w for w in settings.warnings)
    settings.set("generation.seed", 42)
    assert json.loads(user_file(paths).read_text())["ui"]["theme"] == "neon"


@pytest.mark.parametrize("version", ["9", "0", "true", "\"1\""])
def test_a_file_of_an_unknown_version_is_left_alone(paths: AppPaths, version: str) -> None:
    paths.config_dir.mkdir(parents=True)
    text = f'{{"schema_version": {version}, "ui": {{"theme": "dark"}}}}'
    user_file(paths).write_text(text)
    settings = Settings.load(paths, None)
    assert settings.get("ui.theme") == "system"
    assert any("schema_version" in warning for warning in settings.warnings)
    with pytest.raises(SettingsError):
        settings.set("ui.theme", "light")
    assert user_file(paths).read_text() == text


def test_an_older_file_is_migrated_and_written_back_at_the_current_version(
    paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    def appearance_became_ui(document: dict[str, Any]) -> dict[str, Any]:
        upgraded = dict(document)
        upgraded["ui"] = upgraded.pop("appearance")
        return upgraded

    monkeypatch.setattr(settings_module, "SETTINGS_VERSION", 2)
    monkeypatch.setattr(settings_module, "SETTINGS_MIGRATIONS", {1: appearance_became_ui})
    paths.config_dir.mkdir(parents=True)
    user_file(paths).write_text('{"schema_version": 1, "appearance": {"theme": "dark"}}')
    settings = Settings.load(paths, None)
    assert settings.get("ui.theme") == "dark"
    assert settings.warnings == []
    assert json.loads(user_file(paths).read_text())["schema_version"] == 1  # read, not rewritten
    settings.set("ui.font_size", 14)
    written = json.loads(user_file(paths).read_text())
    assert written == {"schema_version": 2, "ui": {"theme": "dark", "font_size": 14}}


def test_a_file_without_a_version_is_read_as_the_current_one(paths: AppPaths) -> None:
    paths.config_dir.mkdir(parents=True)
    user_file(paths).write_text('{"ui": {"theme": "dark"}}')
    assert Settings.load(paths, None).get("ui.theme") == "dark"


def test_engine_limits_from_policy(paths: AppPaths) -> None:
    policy = policy_with(paths, managed={"engine": {"gpu_allowed": False, "max_context": 2048}})
    settings = Settings.load(paths, policy)
    assert settings.state("engine.gpu_layers").locked
    assert settings.get("engine.gpu_layers") == 0
    assert settings.get("engine.context_length") == 2048
    with pytest.raises(SettingLocked):
        settings.set("engine.context_length", 8192)
    settings.set("engine.context_length", 1024)
    assert settings.get("engine.context_length") == 1024


def test_restricted_policy_does_not_break_settings(paths: AppPaths) -> None:
    root = paths.policy_root / "managed"
    policy = policy_with(paths)
    (root / "10.json").write_text("{bad")
    os.chmod(root / "10.json", 0o644)
    policy = load_policy(paths.policy_root)
    assert policy.restricted
    settings = Settings.load(paths, policy)
    settings.set("ui.theme", "dark")
    assert settings.get("ui.theme") == "dark"


def test_cli_settings_set_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    assert main(["settings", "set", "ui.theme", "dark"]) == 0
    assert main(["settings", "set", "ui.theme", "neon"]) == 1
    assert "not a valid value for ui.theme" in capsys.readouterr().err
    assert main(["settings", "show", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["keys"]["ui.theme"] == {
        "value": "dark",
        "locked": False,
        "level": "user",
        "source": str(tmp_path / "home" / "config" / "settings.json"),
        "description": SETTING_KEYS["ui.theme"].description,
    }


def test_an_administrator_can_pin_the_engine_threads(paths: AppPaths) -> None:
    from app.core.context import engine_options

    Settings.load(paths, None).set("engine.threads", 2)
    settings = Settings.load(paths, policy_with(paths, managed={"engine": {"threads": 1}}))
    assert settings.state("engine.threads").locked
    assert engine_options(settings).threads == 1
    with pytest.raises(SettingLocked):
        settings.set("engine.threads", 4)
    (paths.policy_root / "managed" / "10.json").unlink()
    free = Settings.load(paths, policy_with(paths, recommended={"engine": {"threads": 3}}))
    assert engine_options(free).threads == 2  # the user's own pin beats a recommendation


def test_a_recommended_gpu_ban_holds_the_value_but_keeps_the_users_choice(
    paths: AppPaths,
) -> None:
    policy = policy_with(paths, recommended={"engine": {"gpu_allowed": False}})
    settings = Settings.load(paths, policy)
    state = settings.state("engine.gpu_layers")
    assert (state.value, state.locked, state.level) == (0, False, "managed")
    settings.set("engine.gpu_layers", 20)
    assert settings.get("engine.gpu_layers") == 0
    (paths.policy_root / "recommended" / "10.json").unlink()
    assert Settings.load(paths, policy_with(paths)).get("engine.gpu_layers") == 20


def test_a_capped_value_the_user_chose_returns_when_the_cap_is_lifted(paths: AppPaths) -> None:
    Settings.load(paths, None).set("engine.context_length", 8192)
    capped = Settings.load(paths, policy_with(paths, managed={"engine": {"max_context": 2048}}))
    state = capped.state("engine.context_length")
    assert (state.value, state.locked, state.level) == (2048, False, "managed")
    assert state.source.endswith("10.json")
    (paths.policy_root / "managed" / "10.json").unlink()
    assert Settings.load(paths, policy_with(paths)).get("engine.context_length") == 8192

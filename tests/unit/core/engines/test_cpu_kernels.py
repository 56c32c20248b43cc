"""llama.cpp's repacked CPU kernels: off by default where they crash (an AMX CPU), a setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.context import engine_options
from app.core.engines import cpu_kernels
from app.core.engines.base import EngineOptions
from app.core.models import load_probe
from app.core.models.load_probe import NO_EXTRA_BUFTS, LoadProbeResult
from app.core.paths import AppPaths
from app.core.settings import Settings, SettingsError


@pytest.fixture
def amx(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Set ``amx[0]`` to make this "CPU" advertise AMX or not."""
    flag = [False]
    monkeypatch.setattr(cpu_kernels, "cpu_has_amx", lambda: flag[0])
    return flag


@pytest.mark.parametrize(("has_amx", "setting", "on"), [
    (False, "auto", True),
    (True, "auto", False),   # where llama.cpp#20824 crashes: off unless asked for
    (True, "on", True),
    (False, "on", True),
    (True, "off", False),
    (False, "off", False),
])
def test_the_setting_and_the_cpu_decide(amx: list[bool], has_amx: bool, setting: str,
                                        on: bool) -> None:
    amx[0] = has_amx
    assert cpu_kernels.extra_bufts_for(setting) is on
    words = cpu_kernels.why_off(setting)
    assert (words == "") is on
    if has_amx and setting == "auto":
        assert "llama.cpp#20824" in words and "engine.cpu_repacking on" in words


def test_engine_options_carry_the_setting(tmp_path: Path, amx: list[bool]) -> None:
    amx[0] = True
    home = tmp_path / "home"
    settings = Settings.load(AppPaths.under(home, site_models_dir=home / "site",
                                            policy_root=tmp_path / "policies"), None)
    assert settings.get("engine.cpu_repacking") == "auto"
    assert engine_options(settings).extra_bufts is False
    assert EngineOptions().extra_bufts is False  # every other caller gets the same default
    settings.set("engine.cpu_repacking", "on")
    assert engine_options(settings).extra_bufts is True
    amx[0] = False
    settings.set("engine.cpu_repacking", "auto")
    assert engine_options(settings).extra_bufts is True
    assert EngineOptions().extra_bufts is True


@given(st.text(max_size=12).filter(lambda v: v not in ("auto", "on", "off")))
def test_any_other_value_is_refused_and_nothing_changes(tmp_path_factory: pytest.TempPathFactory,
                                                        value: str) -> None:
    home = tmp_path_factory.mktemp("s") / "home"
    paths = AppPaths.under(home, site_models_dir=home / "site", policy_root=home / "policies")
    settings = Settings.load(paths, None)
    with pytest.raises(SettingsError):
        settings.set("engine.cpu_repacking", value)
    assert Settings.load(paths, None).get("engine.cpu_repacking") == "auto"


def test_the_load_probe_starts_without_them_where_they_crash(
    amx: list[bool], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    commands: list[list[str]] = []

    def run(command: list[str], *, timeout: float) -> LoadProbeResult:
        commands.append(list(command))
        crashed = NO_EXTRA_BUFTS not in command  # as llama.cpp does on an AMX CPU
        return LoadProbeResult(not crashed, "llama.cpp crashed while loading it (SIGSEGV)"
                               if crashed else "", {})

    monkeypatch.setattr(load_probe, "run_probe", run)
    model = tmp_path / "m.gguf"
    amx[0] = True
    result = load_probe.probe_load(model)
    assert result.ok and "needs_safe_settings" not in result.details
    assert len(commands) == 1 and NO_EXTRA_BUFTS in commands[0]  # no crash to survive
    commands.clear()
    amx[0] = False
    result = load_probe.probe_load(model)  # elsewhere: tried as configured, then safely
    assert result.ok and result.details["needs_safe_settings"] == 1
    assert [NO_EXTRA_BUFTS in c for c in commands] == [False, True]

"""The fallback ladder and its memory: order, per-key memory, damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.engines.base import EngineOptions
from app.core.engines.fallback import (
    LAST_LEVEL,
    FallbackMemory,
    fallback_key,
    next_level,
    options_for,
)

SIG = {"build_id": "b1", "hardware_id": "h1"}


def test_each_step_keeps_the_ones_before_it() -> None:
    base = EngineOptions(gpu_layers=-1, threads=0)
    assert options_for(0, base, 8) == base
    one = options_for(1, base, 8)
    assert (one.extra_bufts, one.gpu_layers, one.threads) == (False, -1, 0)
    two = options_for(2, base, 8)
    assert (two.extra_bufts, two.gpu_layers, two.threads) == (False, 0, 0)
    three = options_for(3, base, 8)
    assert (three.extra_bufts, three.gpu_layers, three.threads) == (False, 0, 4)
    assert options_for(3, EngineOptions(threads=1), 8).threads == 1  # never below one


def test_the_gpu_step_is_skipped_without_a_gpu() -> None:
    assert [next_level(n, gpu_in_use=False) for n in range(3)] == [1, 3, 3]
    assert [next_level(n, gpu_in_use=True) for n in range(3)] == [1, 2, 3]


def test_memory_is_per_model_build_and_machine(tmp_path: Path) -> None:
    memory = FallbackMemory(tmp_path / "f.json")
    key = fallback_key("a" * 64, SIG)
    after = memory.crashed(key, 0, "crashed (SIGSEGV)", "m", gpu_in_use=False)
    assert (after.level, after.broken) == (1, False)
    assert memory.get(key).level == 1
    for other in (fallback_key("b" * 64, SIG), fallback_key("a" * 64, {**SIG, "build_id": "b2"}),
                  fallback_key("a" * 64, {**SIG, "hardware_id": "h2"})):
        assert memory.get(other).level == 0  # a new file, build or machine starts over
    memory.confirm(key, 1, "m")
    assert memory.get(key).confirmed


def test_every_step_crashing_marks_the_model_broken(tmp_path: Path) -> None:
    memory = FallbackMemory(tmp_path / "f.json")
    key = fallback_key("a" * 64, SIG)
    level, seen = 0, []
    while True:
        after = memory.crashed(key, level, "aborted (SIGABRT)", "m", gpu_in_use=True)
        seen.append(level)
        if after.broken:
            break
        level = after.level
    assert seen == [0, 1, 2, 3] and level == LAST_LEVEL
    assert memory.get(key).broken
    [entry] = memory.report()
    assert entry["broken"] and "will not be loaded again" in entry["words"]


@pytest.mark.parametrize("content", [
    "", "not json", "[]", '{"k": 5}', '{"k": {"level": 99}}', '{"k": {"level": "x"}}',
    '{"k": {"level": -1, "broken": "yes"}}', "\xff\xfe",
])
def test_a_damaged_memory_file_reads_as_nothing_known(tmp_path: Path, content: str) -> None:
    file = tmp_path / "f.json"
    file.write_text(content, encoding="utf-8", errors="surrogateescape")
    memory = FallbackMemory(file)
    state = memory.get("k")
    assert (state.level, state.broken) == (0, False)
    memory.crashed("k", 0, "crashed", "m", gpu_in_use=False)  # and it can be written again
    assert memory.get("k").level == 1


def test_without_an_engine_process_doctor_says_the_engine_runs_in_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    # Windows cannot hand a socketpair to a child: there the app keeps the in-process engine
    # and doctor says so, rather than failing to load anything.
    from app.core.engines import engine_process, health
    from app.core.paths import AppPaths

    monkeypatch.setattr(engine_process.os, "name", "nt")
    assert not engine_process.engine_process_supported()
    monkeypatch.setattr(health, "engine_process_supported", lambda: False)
    paths = AppPaths.under(tmp_path, site_models_dir=tmp_path / "site",
                           policy_root=tmp_path / "policies")
    [line] = health.engine_checks(paths)
    assert line.status == "warning" and "inside the app's own process" in line.detail

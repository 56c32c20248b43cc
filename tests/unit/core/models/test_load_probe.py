"""A llama.cpp crash in the first load is a sentence, not a dead app."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from app.core.models.load_probe import LoadProbeCache, LoadProbeResult, probe_load, run_probe


def test_a_crashing_child_is_reported_and_we_live_on() -> None:
    aborted = run_probe([sys.executable, "-c", "import os; os.abort()"])
    assert not aborted.ok and "crashed" in aborted.reason and "SIGABRT" in aborted.reason
    segv = run_probe([sys.executable, "-c", "import ctypes; ctypes.string_at(0)"])
    assert not segv.ok and "SIGSEGV" in segv.reason
    assert os.getpid() > 0  # this process is still here to say so


def test_a_hanging_child_is_stopped() -> None:
    result = run_probe([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    assert not result.ok and "longer than 1 s" in result.reason and not result.definite


@pytest.mark.model
def test_the_real_model_loads(default_model_file: Path) -> None:
    result = probe_load(default_model_file)
    assert result.ok and result.details["n_ctx_train"] == 8192


def test_results_are_cached_by_digest(tmp_path: Path) -> None:
    cache = LoadProbeCache(tmp_path / "probes.json")
    calls: list[Path] = []

    def once(path: Path) -> LoadProbeResult:
        calls.append(path)
        return LoadProbeResult(False, "llama.cpp crashed while loading it (SIGSEGV)")

    digest = "a" * 64
    for _ in range(2):
        assert "SIGSEGV" in cache.probe(digest, tmp_path / "x.gguf", runner=once).reason
    assert len(calls) == 1
    cache.put("b" * 64, LoadProbeResult(False, "slow", definite=False))
    assert cache.get("b" * 64) is None

"""Fixtures for the packaging tests: a frozen build that is reused while it is up to date.

Tests marked ``package`` build the PyInstaller folder (compiling a portable llama.cpp the first
time: ~10 minutes on 2 cores, then ~3 minutes per PyInstaller run) and run the real program.
Developers skip them with ``-m "not package"``; CI runs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "build" / "dist" / "enclave"
EXE = DIST / ("enclave.exe" if sys.platform.startswith("win") else "enclave")
# What the frozen program is made from: a newer file here means the build is stale.
SOURCES = ("app", "assets", "installer/pyinstaller", "models/catalog.toml", "build.spec",
           "pyproject.toml")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "package: builds and runs the frozen program (minutes; CI runs these)"
    )


def newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for f in files:
            if "__pycache__" not in f.parts:
                newest = max(newest, f.stat().st_mtime)
    return newest


def make(*targets: str, timeout: float, **env: str) -> None:
    """Run packaging make targets from the repository root; fail the test with their output."""
    proc = subprocess.run(
        ["make", "--no-print-directory", "-f", "installer/package.mk", *targets],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **env},
    )
    if proc.returncode != 0:
        pytest.fail(
            f"make {' '.join(targets)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )


@pytest.fixture(scope="session")
def frozen_dist() -> Path:
    """The PyInstaller folder, rebuilt with `make package` only when a source is newer."""
    if not EXE.is_file() or EXE.stat().st_mtime < newest_source_mtime():
        make("package", timeout=3000)
    assert EXE.is_file(), f"make package did not produce {EXE}"
    return DIST

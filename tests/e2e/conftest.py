"""Run the real `enclave` program as a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def enclave(tmp_path: Path, site_models_dir: Path) -> Runner:
    """Call `python -m app ARGS…` with private user directories and the real model."""
    home = tmp_path / "home"

    def run(
        *args: str, models: Path | None = site_models_dir, timeout: float = 120,
        input: str | None = None, extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env["ENCLAVE_HOME"] = str(home)
        empty = tmp_path / "empty-site"
        empty.mkdir(exist_ok=True)
        env["ENCLAVE_SITE_MODELS_DIR"] = str(models or empty)
        env.update(extra_env or {})
        return subprocess.run(
            [sys.executable, "-m", "app", *args], capture_output=True, text=True,
            timeout=timeout, env=env, input=input, check=False,
        )

    return run

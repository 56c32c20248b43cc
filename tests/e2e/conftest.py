"""Run the real `enclave` program as a subprocess, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]


_LOG_PROBLEM = re.compile(r"^\S+ \S+ (?:WARNING|ERROR|CRITICAL) |Traceback \(most recent")


def log_problems(home: Path, allowed: list[re.Pattern[str]]) -> list[str]:
    """Warnings, errors and tracebacks in the app's log under ``home`` not matched by
    ``allowed`` — what a user's IT would find there after the run."""
    problems = []
    for log in sorted(home.glob("**/enclave.log*")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if _LOG_PROBLEM.search(line) and not any(a.search(line) for a in allowed):
                problems.append(line)
    return problems


@pytest.fixture
def enclave(
    tmp_path: Path, site_models_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Runner]:
    """Call `python -m app ARGS…` with private user directories and the real model.

    After the test, the app's log must hold no warning, error or traceback except what the
    test declares with ``@pytest.mark.log_allows(regex, …)``: a run that "passed" while
    logging a failure is a failure.
    """
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

    yield run
    allowed = [re.compile(pattern) for marker in request.node.iter_markers("log_allows")
               for pattern in marker.args]
    problems = log_problems(home, allowed)
    assert not problems, "unexpected in the app's log:\n" + "\n".join(problems[:20])

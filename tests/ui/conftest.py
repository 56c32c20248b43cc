"""GUI tests run offscreen against the real model; no thread may outlive its test."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_qthread_left_running() -> Iterator[None]:
    """Fail any test that leaves one of the GUI's worker QThreads running."""
    from app.ui.workers import running_threads

    yield
    left = running_threads()
    names = [t.objectName() for t in left]
    for thread in left:  # stop them so the next test starts clean
        thread.quit()
        thread.wait(5000)
    assert not left, f"QThreads left running: {names}"


def write_policy(base: Path, managed: dict[str, Any]) -> Path:
    """A trusted policy root (root-owned, 0755/0644; tests run as root) with one managed file."""
    root = base / "policies"
    for directory in (root, root / "managed", root / "recommended"):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o755)
    path = root / "managed" / "50-test.json"
    path.write_text(json.dumps({"schema_version": 1, **managed}), encoding="utf-8")
    os.chmod(path, 0o644)
    return root


@pytest.fixture
def with_policy(tmp_path: Path) -> Callable[[Any, dict[str, Any]], Any]:
    """``with_policy(paths, {...managed values...})``: the paths with that policy in force."""

    def make(paths: Any, managed: dict[str, Any]) -> Any:
        return dataclasses.replace(paths, policy_root=write_policy(tmp_path, managed))

    return make

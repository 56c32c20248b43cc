"""Helpers that build a real policy root in a temporary directory (tests run as root)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WriteFn = Callable[..., Path]


def make_root(base: Path) -> Path:
    """A trusted policy root: root-owned, 0755, with managed/ and recommended/."""
    root = base / "policies"
    for directory in (root, root / "managed", root / "recommended"):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o755)
    return root


def write_policy(root: Path, level: str, name: str, content: Any, mode: int = 0o644) -> Path:
    """Write one policy file; ``content`` is a dict (dumped as JSON), str or bytes."""
    path = root / level / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    os.chmod(path, mode)
    return path


@pytest.fixture
def make_policy_root() -> Callable[[Path], Path]:
    """``make_root`` for tests that build roots themselves (hypothesis)."""
    return make_root


@pytest.fixture
def write_file() -> WriteFn:
    """``write_policy`` for tests that build roots themselves."""
    return write_policy


@pytest.fixture
def policy_root(tmp_path: Path) -> Path:
    return make_root(tmp_path)


@pytest.fixture
def write(policy_root: Path) -> WriteFn:
    def _write(level: str, name: str, content: Any, mode: int = 0o644) -> Path:
        return write_policy(policy_root, level, name, content, mode)

    return _write

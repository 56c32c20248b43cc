"""Helpers that build a real policy root in a temporary directory (tests run as root)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.policies import make_root, write_policy

WriteFn = Callable[..., Path]


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

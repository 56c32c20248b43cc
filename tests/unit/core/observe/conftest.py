"""Fixtures for the usage tests: a real audit log with a fake clock, and a fresh cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.audit import AuditLog
from app.core.observe import UsageCache
from app.core.paths import AppPaths
from tests.unit.core.observe.synthetic import FakeClock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock(monkeypatch)


@pytest.fixture
def audit(app_paths: AppPaths, clock: FakeClock) -> Iterator[AuditLog]:
    log = AuditLog(app_paths, hmac_key=b"k" * 32)
    yield log
    log.close()


@pytest.fixture
def cache() -> UsageCache:
    return UsageCache()

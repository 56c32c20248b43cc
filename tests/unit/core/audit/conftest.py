"""Fixtures for the audit log tests: a private per-test home and a signing key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.audit import AuditLog
from app.core.paths import AppPaths

KEY = b"test-audit-hmac-key-0123456789ab"


@pytest.fixture
def paths(app_paths: AppPaths) -> AppPaths:
    # The suite's per-test user directories (ENCLAVE_HOME in a temporary directory).
    return app_paths


@pytest.fixture
def key() -> bytes:
    return KEY


@pytest.fixture
def audit(paths: AppPaths, key: bytes) -> Iterator[AuditLog]:
    log = AuditLog(paths, hmac_key=key)
    yield log
    log.close()

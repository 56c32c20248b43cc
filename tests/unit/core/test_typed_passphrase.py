"""A passphrase typed at the prompt opens the documents index as well as the history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import secrets
from app.core.context import open_app
from app.core.paths import AppPaths, default_paths


@pytest.fixture
def no_keyring_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppPaths]:
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/enclave-test-bus")
    secrets.reset_backend_cache()
    yield default_paths().ensure()
    secrets.reset_backend_cache()


def test_the_typed_passphrase_opens_the_documents_index(no_keyring_paths: AppPaths) -> None:
    asked: list[bool] = []

    def ask(first_run: bool) -> str:
        asked.append(first_run)
        return "a typed passphrase long enough"

    ctx = open_app(no_keyring_paths, ask_passphrase=ask)
    try:
        assert asked == [True]
        assert ctx.chat.documents is not None
        index = ctx.chat.documents.index()  # before the fix: "a passphrase is required"
        assert index.collections() == []
    finally:
        ctx.close()

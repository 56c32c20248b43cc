"""Start-up hardening: an escapable Jinja2 is refused, native-library overrides are cleared."""

from __future__ import annotations

import pytest

from app.core import runtime
from app.core.errors import ConfigurationError


def test_old_jinja_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.metadata.version", lambda _name: "3.1.4")
    with pytest.raises(ConfigurationError, match="sandbox escapes"):
        runtime.check_jinja_version()


def test_current_jinja_is_accepted() -> None:
    runtime.check_jinja_version()


def test_overrides_are_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", "/tmp/evil")
    monkeypatch.setenv("GGML_BACKEND_PATH", "/tmp/evil")
    monkeypatch.setattr(runtime, "_done", False)
    runtime.harden_process()
    import os

    assert "LLAMA_CPP_LIB_PATH" not in os.environ
    assert "GGML_BACKEND_PATH" not in os.environ

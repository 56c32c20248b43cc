"""``allow_insecure_http`` leaves a ``connector.insecure_http`` record on every call it allows.

Tests talk to 127.0.0.1 only, and loopback is never "off the machine", so the override's
test (``insecure_http_override``) is pointed at the loopback FAKE Anthropic server as the
stand-in for an http server on another host; the policy, the chat service, the redaction and
the audit log are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import app.core.turn_audit as chat_module
from app.core.paths import AppPaths
from tests.integration.connector.corpus import MESSAGE
from tests.integration.connector.servers import FakeAnthropicMessagesServer
from tests.integration.connector.test_chat_routing import app_with, audit_events, fake

__all__ = ["fake"]  # the fixture, shared
pytestmark = pytest.mark.model


@pytest.mark.parametrize("override", [True, False])
def test_each_call_through_the_override_is_audited_and_only_those(
    tmp_path: Path, model_paths: AppPaths, fake: FakeAnthropicMessagesServer,
    monkeypatch: pytest.MonkeyPatch, override: bool,
) -> None:
    monkeypatch.setattr(chat_module, "insecure_http_override",
                        lambda endpoint: override and endpoint is not None)
    app = app_with(tmp_path, model_paths, fake)
    try:
        app.chat.send(MESSAGE, route="claude")
        app.chat.send("and again", route="claude")
        app.chat.send("and locally", route="local")
        records = [r for r in audit_events(app) if r["event"] == "connector.insecure_http"]
        assert len(records) == (2 if override else 0)
        for record in records:
            assert record["route"]["name"] == "claude"
            assert record["detail"]["base_url"] == fake.base_url
    finally:
        app.close()

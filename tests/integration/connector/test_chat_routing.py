"""A turn routed through ChatService: gate, redaction, confirmation, blocking, audit, history.

The remote side is the FAKE Anthropic Messages server (no real one runs here); everything
else is real: the policy files, the encrypted history, the audit log and the local model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.context import AppContext, open_app
from app.core.engines.base import GenerationParams
from app.core.outbound import RouteRefused, SendDeclined
from app.core.paths import AppPaths
from app.core.policy import current_os_user
from tests.integration.connector.corpus import MESSAGE, ORIGINALS
from tests.integration.connector.servers import FakeAnthropicMessagesServer
from tests.policies import policy_root

PASSPHRASE = "a long enough test passphrase"


@pytest.fixture
def fake() -> Iterator[FakeAnthropicMessagesServer]:
    server = FakeAnthropicMessagesServer(api_key="sk-test-123")
    yield server
    server.close()


def write_policy(root: Path, doc: dict[str, Any]) -> None:
    policy_root(root.parent, doc, name=root.name, file_name="10-connector.json")


def app_with(
    tmp_path: Path, paths: AppPaths, fake: FakeAnthropicMessagesServer, *,
    users: list[str] | None = None, confirm: bool = False,
) -> AppContext:
    key_file = tmp_path / "claude.key"
    key_file.write_text("sk-test-123\n")
    os.chmod(key_file, 0o600)
    user, _groups = current_os_user()
    root = tmp_path / "policies"
    write_policy(root, {
        "connector": {
            "enabled": True, "allowed_users": users if users is not None else [user],
            "require_confirmation": confirm,
            "endpoints": [{"name": "claude", "kind": "anthropic", "base_url": fake.base_url,
                           "classification": "external", "models": ["fake-claude"],
                           "api_key_file": str(key_file)}],
        },
        "redaction": {"custom_terms": ["operation nightjar"]},
    })
    app = open_app(dataclasses.replace(paths, policy_root=root), passphrase=PASSPHRASE)
    app.chat.params = GenerationParams(max_tokens=24, seed=3)
    return app


def audit_events(app: AppContext) -> list[dict[str, Any]]:
    assert app.audit is not None
    return [json.loads(line) for line in app.audit.path.read_text().splitlines()]


def test_external_route_redacts_restores_saves_and_audits(
    tmp_path: Path, app_paths: AppPaths, fake: FakeAnthropicMessagesServer
) -> None:
    app = app_with(tmp_path, app_paths, fake)
    shown: list[str] = []
    try:
        result = app.chat.send(MESSAGE, route="claude", on_token=shown.append)
        sent = json.dumps(fake.bodies)
        for original in ORIGINALS.values():
            assert original not in sent, "a sensitive value left the machine"
        assert re.search(r"<EMAIL_1_[a-z0-9]{8}>", sent)
        assert result.completion.text == f"You said: {MESSAGE}"
        assert "".join(shown) == result.completion.text
        assert result.engine.route == "claude"
        assert result.redactions and result.redactions["EMAIL"] == 1
        stored = app.history.messages(result.conversation_id)  # type: ignore[union-attr]
        assert stored[-1].text == f"You said: {MESSAGE}"
        assert stored[-1].route == "claude"
        calls = [r for r in audit_events(app) if r["event"] == "model.call"]
        assert calls[-1]["route"] == {"name": "claude", "classification": "external"}
        assert calls[-1]["redactions"]["EMAIL"] == 1
        assert "redaction.applied" in {r["event"] for r in audit_events(app)}
        assert ORIGINALS["EMAIL"] not in app.audit.path.read_text()  # type: ignore[union-attr]
    finally:
        app.close()


def test_user_outside_the_gate_is_refused_and_nothing_is_sent(
    tmp_path: Path, app_paths: AppPaths, fake: FakeAnthropicMessagesServer
) -> None:
    app = app_with(tmp_path, app_paths, fake, users=["somebody-else"])
    try:
        with pytest.raises(RouteRefused) as err:
            app.chat.send("hello", route="claude")
        assert "Rule:" in err.value.hint
        assert fake.bodies == []
        refused = [r for r in audit_events(app) if r["event"] == "policy.refused"]
        assert refused and refused[-1]["outcome"]["status"] == "denied"
    finally:
        app.close()


def test_confirmation_shows_the_redacted_text_and_declining_sends_nothing(
    tmp_path: Path, app_paths: AppPaths, fake: FakeAnthropicMessagesServer
) -> None:
    app = app_with(tmp_path, app_paths, fake, confirm=True)
    seen: list[str] = []
    try:
        with pytest.raises(SendDeclined):
            app.chat.send(MESSAGE, route="claude", confirm=lambda text, _d: seen.append(text)
                          or False)
        assert fake.bodies == []
        assert re.search(r"<EMAIL_1_[a-z0-9]{8}>", seen[0]) and ORIGINALS["EMAIL"] not in seen[0]
        ok = app.chat.send("Say hi to bob@example.org", route="claude",
                           confirm=lambda _t, _d: True)
        assert ok.completion.text == "You said: Say hi to bob@example.org"
    finally:
        app.close()


@pytest.mark.model
def test_a_classification_marking_keeps_the_turn_local(
    tmp_path: Path, model_paths: AppPaths, fake: FakeAnthropicMessagesServer
) -> None:
    app = app_with(tmp_path, model_paths, fake)
    try:
        result = app.chat.send("TOP SECRET//NOFORN summary of the plan", route="claude")
        assert fake.bodies == [], "a blocking finding must keep the whole turn here"
        assert result.engine.route == "local"
        assert result.route_note
    finally:
        app.close()


def test_cost_is_counted_and_the_monthly_budget_refuses_before_sending(
    tmp_path: Path, app_paths: AppPaths, fake: FakeAnthropicMessagesServer
) -> None:
    from app.core.usage_cost import BudgetExceeded

    key_file = tmp_path / "claude.key"
    key_file.write_text("sk-test-123\n")
    os.chmod(key_file, 0o600)
    user, _groups = current_os_user()
    root = tmp_path / "policies"
    write_policy(root, {"connector": {
        "enabled": True, "allowed_users": [user], "require_confirmation": False,
        "monthly_budget_per_user": 0.0001,
        "endpoints": [{"name": "claude", "kind": "anthropic", "base_url": fake.base_url,
                       "classification": "external", "models": ["fake-claude"],
                       "api_key_file": str(key_file),
                       "prices": {"fake-claude": {"input_per_mtok": 3000.0,
                                                  "output_per_mtok": 15000.0}}}],
    }})
    app = open_app(dataclasses.replace(app_paths, policy_root=root), passphrase=PASSPHRASE)
    try:
        app.chat.send("Say something.", route="claude")
        calls = [r for r in audit_events(app) if r["event"] == "model.call"]
        assert calls[-1]["cost"] > 0
        assert app.chat.ledger is not None and app.chat.ledger.spent() == pytest.approx(
            calls[-1]["cost"], rel=1e-3)
        sent_before = len(fake.bodies)
        with pytest.raises(BudgetExceeded, match="budget"):
            app.chat.send("And again.", route="claude")
        assert len(fake.bodies) == sent_before, "nothing is sent once the budget is spent"
    finally:
        app.close()


def test_placeholder_mapping_is_kept_encrypted_and_reused_when_resumed(
    tmp_path: Path, app_paths: AppPaths, fake: FakeAnthropicMessagesServer
) -> None:
    app = app_with(tmp_path, app_paths, fake)
    try:
        first = app.chat.send("Write to bob@example.org today", route="claude")
        cid = first.conversation_id
        stored = app.history.redactions(cid)  # type: ignore[union-attr]
        assert list(stored.values()) == ["bob@example.org"]
        bob = next(iter(stored))
        assert re.fullmatch(r"<EMAIL_1_[a-z0-9]{8}>", bob)
    finally:
        app.close()
    db = app_paths.database_file
    for f in db.parent.glob(db.name + "*"):
        assert b"bob@example.org" not in f.read_bytes(), f"plaintext mapping in {f.name}"
    again = app_with(tmp_path, app_paths, fake)  # a new session resumes the conversation
    try:
        fake.bodies.clear()
        again.chat.send("Also cc carol@example.org and bob@example.org", route="claude",
                        conversation_id=cid)
        sent = json.dumps(fake.bodies[-1])
        # Numbering and the conversation's tag continue: bob keeps his placeholder.
        assert bob in sent and bob.replace("_1_", "_2_") in sent, "numbering continues"
        assert "bob@example.org" not in sent and "carol@example.org" not in sent
    finally:
        again.close()

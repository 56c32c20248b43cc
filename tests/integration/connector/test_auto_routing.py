"""Auto routing end to end: the real llama.cpp server on loopback is the remote model.

Everything is real: policy files, the encrypted history, the audit log, the local model and
``python -m llama_cpp.server`` behind a relay that records every byte the remote side saw.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.context import AppContext, open_app
from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.core.policy import current_os_user
from tests.integration.connector.servers import LoggingRelay
from tests.policies import policy_root

pytestmark = pytest.mark.model

PASSPHRASE = "a long enough test passphrase"


@pytest.fixture
def relay(llama_server: int) -> Iterator[LoggingRelay]:
    r = LoggingRelay(llama_server)
    yield r
    r.close()


def open_auto(tmp_path: Path, paths: AppPaths, relay: LoggingRelay, *,
              users: list[str] | None = None) -> AppContext:
    user, _ = current_os_user()
    root = tmp_path / "policies"
    if not root.exists():
        policy_root(tmp_path, {
            "connector": {
                "enabled": True, "allowed_users": users if users is not None else [user],
                "require_confirmation": False,
                "endpoints": [{"name": "onprem", "kind": "openai", "classification": "internal",
                               "base_url": f"http://127.0.0.1:{relay.port}/v1",
                               "models": ["smollm2"]}],
            },
            "redaction": {"custom_terms": ["NIGHTJAR"]},
            "routing": {"mode": "auto", "auto_endpoint": "onprem"},
        }, name="policies", file_name="10-site.json")
    app = open_app(dataclasses.replace(paths, policy_root=root), passphrase=PASSPHRASE)
    app.chat.params = GenerationParams(max_tokens=8, seed=3)
    return app


def audit_calls(app: AppContext) -> list[dict[str, Any]]:
    assert app.audit is not None
    records = [json.loads(line) for line in app.audit.path.read_text().splitlines()]
    return [r for r in records if r.get("event") == "model.call" and "tokens_out" in r]


def test_a_general_question_goes_to_the_remote_model_and_says_so(
    tmp_path: Path, model_paths: AppPaths, relay: LoggingRelay
) -> None:
    app = open_auto(tmp_path, model_paths, relay)
    try:
        result = app.chat.send("What is the capital of Peru?")
        assert result.engine.route == "onprem"
        assert result.route_note.startswith("Remote (onprem) — general question")
        assert b"capital of Peru" in bytes(relay.received)
        [call] = audit_calls(app)
        assert call["detail"]["auto_routing"]["signals"] == []
    finally:
        app.close()


def test_a_conversation_that_became_sensitive_never_sends_its_earlier_turns(
    tmp_path: Path, model_paths: AppPaths, relay: LoggingRelay
) -> None:
    app = open_auto(tmp_path, model_paths, relay)
    try:
        first = app.chat.send("Note for later: the NIGHTJAR budget is 4 million.")
        assert first.engine.route == "local"
        assert "Local — contains a term your organization lists as sensitive" in first.route_note
        # The later question is general, and the earlier turn is no longer in its context...
        later = app.chat.send("What is the capital of Peru?",
                              conversation_id=first.conversation_id)
        assert later.engine.route == "local"
        assert "marked sensitive earlier" in later.route_note
        [_, call] = audit_calls(app)
        assert call["detail"]["auto_routing"]["signals"][0]["name"] == "conversation:sensitive"
        cid = first.conversation_id
    finally:
        app.close()
    # ...and the mark outlives the session.
    again = open_auto(tmp_path, model_paths, relay)
    try:
        assert again.history is not None and again.history.sensitive_reason(cid)
        third = again.chat.send("Name a colour.", conversation_id=cid)
        assert third.engine.route == "local"
        # A new conversation starts clean.
        fresh = again.chat.send("Name a colour.")
        assert fresh.engine.route == "onprem"
    finally:
        again.close()
    assert b"NIGHTJAR" not in bytes(relay.received) and b"4 million" not in bytes(relay.received)
    assert bytes(relay.received).count(b"Name a colour") == 1  # only the fresh conversation


def test_forcing_the_remote_route_over_a_marking_stays_local_and_route_local_is_honoured(
    tmp_path: Path, model_paths: AppPaths, relay: LoggingRelay
) -> None:
    app = open_auto(tmp_path, model_paths, relay)
    try:
        forced = app.chat.send("secret//noforn: shorten this sentence.", route="onprem")
        assert forced.engine.route == "local" and "classification marking" in forced.route_note
        chosen = app.chat.send("What is the capital of Peru?", route="local")
        assert chosen.engine.route == "local"
        assert relay.received == b""
    finally:
        app.close()


def test_auto_with_no_remote_model_allowed_is_simply_local(
    tmp_path: Path, model_paths: AppPaths, relay: LoggingRelay
) -> None:
    app = open_auto(tmp_path, model_paths, relay, users=["somebody-else"])
    try:
        result = app.chat.send("What is the capital of Peru?")
        assert result.engine.route == "local"
        assert "not available to you" in result.route_note
        assert relay.received == b""
    finally:
        app.close()


def test_the_route_is_previewed_before_sending_and_nothing_leaves(
    tmp_path: Path, model_paths: AppPaths, relay: LoggingRelay
) -> None:
    from app.core.turn_routing import preview_route

    app = open_auto(tmp_path, model_paths, relay)
    try:
        general = preview_route(app.chat, "What is the capital of Peru?")
        assert general is not None and general.route == "onprem"
        assert general.reason.startswith("Remote (onprem) — general question")
        marked = preview_route(app.chat, "TOP SECRET: shorten this.")
        assert marked is not None and marked.route == "local"
        assert marked.reason == "Local — contains a classification marking."
        assert preview_route(app.chat, "anything", route="local") is None
        assert relay.received == b""
        assert app.history is not None and app.history.list_conversations() == []
    finally:
        app.close()

"""A question about a local-only collection, asked with a remote route, is answered here —
and the user, the audit log and the turn's decisions all say why.

Real: the embedding and chat models, the encrypted index and history, the policy files, the
audit log. The remote side is the FAKE Anthropic server (no real one runs here); it must
receive nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from app.cli import main
from app.core.context import open_app
from app.core.engines.base import GenerationParams
from app.core.paths import AppPaths
from app.core.policy import current_os_user
from tests.integration.connector.servers import FakeAnthropicMessagesServer
from tests.integration.docs.conftest import PASSPHRASE
from tests.policies import policy_root
from tests.unit.core.docs._fixtures import write_corpus

pytestmark = pytest.mark.model


def test_local_only_documents_keep_a_remote_turn_here_and_say_so(
    docs_paths: AppPaths, passphrase_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_corpus(tmp_path / "docs")
    assert main(["docs", "add", str(tmp_path / "docs"), "--collection", "ops", "--local-only",
                 "--passphrase-file", str(passphrase_file)]) == 0
    capsys.readouterr()
    key_file = tmp_path / "claude.key"
    key_file.write_text("sk-test\n")
    os.chmod(key_file, 0o600)
    fake = FakeAnthropicMessagesServer(api_key="sk-test")
    user, _groups = current_os_user()
    root = policy_root(tmp_path, {"connector": {
        "enabled": True, "allowed_users": [user], "require_confirmation": False,
        "endpoints": [{"name": "claude", "kind": "anthropic", "base_url": fake.base_url,
                       "classification": "external", "models": ["fake-claude"],
                       "api_key_file": str(key_file)}]}})
    app = open_app(dataclasses.replace(docs_paths, policy_root=root), passphrase=PASSPHRASE)
    app.chat.params = GenerationParams(max_tokens=8, seed=1)
    try:
        result = app.chat.send("When is the emergency generator tested?", route="claude",
                               collections=["ops"])
        assert fake.bodies == [], "local-only material left the machine"
        assert result.engine.route == "local"
        assert "local-only" in result.route_note and "claude" in result.route_note
        assert result.sources, "the answer still cites the local documents"
        route = [d for d in result.decisions if d.step == "route"]
        assert route and route[-1].rule == "documents:local-only" and not route[-1].allowed
        assert app.audit is not None
        records = [json.loads(line) for line in app.audit.path.read_text().splitlines()]
        call = [r for r in records if r["event"] == "model.call"][-1]
        assert call["route"]["name"] == "local"
        assert call["policy"]["rule"] == "documents:local-only"
        assert "local-only" in call["detail"]["note"]
    finally:
        app.close()
        fake.close()

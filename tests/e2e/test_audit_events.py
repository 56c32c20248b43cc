"""Every kind of event a user or administrator can cause leaves an audit record.

Driven through the real `enclave` commands; the log must verify afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Runner

pytestmark = pytest.mark.model


def test_cli_actions_are_audited_and_the_chain_verifies(
    enclave: Runner, tmp_path: Path
) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text("audit events passphrase\n")
    new_pw = tmp_path / "pw2.txt"
    new_pw.write_text("a second audit passphrase\n")
    bad = tmp_path / "notes.gguf"
    bad.write_text("not a model " * 200)

    def ok(*args: str, passphrase: Path | None = pw) -> None:
        extra = ["--passphrase-file", str(passphrase)] if passphrase else []
        r = enclave(*args, *extra)
        assert r.returncode == 0, (args, r.stdout, r.stderr)

    assert enclave("settings", "set", "history.retention_days", "30").returncode == 0
    ok("ask", "--max-tokens", "4", "hello")                       # model.call, retention.run
    assert enclave("ask", "--route", "nowhere", "--passphrase-file", str(pw),
                   "hello").returncode == 7                        # policy.refused
    assert enclave("models", "import", str(bad)).returncode != 0  # model.refused
    ok("models", "verify", passphrase=None)                       # model.verified
    ok("history", "export", "1", "--format", "json")               # history.exported
    ok("history", "delete", "1")                                  # history.deleted
    r = enclave("store", "rekey", "--to", "passphrase", "--passphrase-file", str(pw),
                "--new-passphrase-file", str(new_pw))
    assert r.returncode == 0, r.stderr                             # key.rotated
    ok("audit", "verify", passphrase=None)                        # audit.verified

    log = tmp_path / "home" / "data" / "audit" / "audit.jsonl"
    seen = {json.loads(line)["event"] for line in log.read_text().splitlines()}
    expected = {"policy.loaded", "model.call", "retention.run", "policy.refused",
                "model.refused", "model.verified", "history.exported", "history.deleted",
                "key.rotated", "audit.verified", "audit.checkpoint"}
    assert expected <= seen, expected - seen
    assert enclave("audit", "verify").returncode == 0

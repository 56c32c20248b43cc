"""``enclave connector test`` is a turn like any other: audited, counted, budget-checked.

The remote side is the FAKE Anthropic server (no real one runs here).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli.connector import TEST_REQUEST, run_test
from app.core.audit import audit_log_path
from app.core.paths import AppPaths
from app.core.policy import current_os_user, load_policy
from app.core.usage_cost import BudgetExceeded, UsageLedger
from tests.integration.connector.servers import FakeAnthropicMessagesServer
from tests.policies import policy_root


@pytest.fixture
def fake() -> Iterator[FakeAnthropicMessagesServer]:
    server = FakeAnthropicMessagesServer(api_key="sk-test")
    yield server
    server.close()


def _policy(tmp_path: Path, fake: FakeAnthropicMessagesServer, budget: float) -> Any:
    key_file = tmp_path / "claude.key"
    key_file.write_text("sk-test\n")
    os.chmod(key_file, 0o600)
    user, _groups = current_os_user()
    return load_policy(policy_root(tmp_path, {"connector": {
        "enabled": True, "allowed_users": [user], "require_confirmation": True,
        "monthly_budget_per_user": budget,
        "endpoints": [{"name": "claude", "kind": "anthropic", "base_url": fake.base_url,
                       "classification": "external", "models": ["fake-claude"],
                       "api_key_file": str(key_file),
                       "prices": {"fake-claude": {"input_per_mtok": 3000.0,
                                                  "output_per_mtok": 15000.0}}}]}}))


def test_the_test_request_is_audited_and_counted(
    tmp_path: Path, app_paths: AppPaths, fake: FakeAnthropicMessagesServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user, groups = current_os_user()
    assert run_test(_policy(tmp_path, fake, 0), "claude", user, groups) == 0
    assert "claude answered in" in capsys.readouterr().out
    assert [b["messages"][-1]["content"] for b in fake.bodies] == [TEST_REQUEST]
    records = [json.loads(line) for line in audit_log_path(app_paths).read_text().splitlines()]
    call = [r for r in records if r["event"] == "model.call"][-1]
    assert call["route"] == {"name": "claude", "classification": "external"}
    assert call["cost"] > 0
    assert UsageLedger(app_paths.data_dir / "usage.json").spent() == pytest.approx(
        call["cost"], rel=1e-3)


def test_a_spent_budget_refuses_the_test_request_before_it_is_sent(
    tmp_path: Path, app_paths: AppPaths, fake: FakeAnthropicMessagesServer,
) -> None:
    UsageLedger(app_paths.data_dir / "usage.json").add("claude", 1.0)
    user, groups = current_os_user()
    with pytest.raises(BudgetExceeded):
        run_test(_policy(tmp_path, fake, 0.5), "claude", user, groups)
    assert fake.bodies == []
    records = [json.loads(line) for line in audit_log_path(app_paths).read_text().splitlines()]
    refused = [r for r in records if r["event"] == "policy.refused"]
    assert refused and "budget" in refused[-1]["outcome"]["reason"]

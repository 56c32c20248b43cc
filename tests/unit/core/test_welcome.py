"""The welcome page's facts come from the policy in force, never from a fixed text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.policy import current_os_user, load_policy
from app.core.routing import RouteInfo
from app.core.welcome import STARTERS, welcome_facts, welcome_facts_for
from tests.policies import policy_root

LOCAL = RouteInfo("local", "local", "local")
ME = current_os_user()[0]


def endpoint(name: str, classification: str = "external") -> dict[str, Any]:
    return {"name": name, "kind": "openai", "base_url": f"https://{name}.example/v1",
            "classification": classification, "models": ["m"]}


def connector(*endpoints: dict[str, Any], users: list[str] | None = None,
              **more: Any) -> dict[str, Any]:
    return {"connector": {"enabled": True, "allowed_users": users or [ME],
                          "endpoints": list(endpoints), **more}}


def test_no_policy_means_local_only_and_defaults(tmp_path: Path) -> None:
    facts = welcome_facts_for(load_policy(policy_root(tmp_path)), saved=True)
    assert facts.local_only and facts.remote_routes == ()
    assert facts.where.startswith("Everything you type stays on this computer")
    assert facts.policy == "No organization policy: Enclave's defaults apply."
    assert facts.restricted == ""
    assert "saved on this computer, encrypted" in facts.saved
    assert [s.title for s in facts.starters] == [s.title for s in STARTERS]
    assert len(facts.starters) == 4 and all(s.prompt.strip() for s in facts.starters)


def test_a_managed_policy_is_named_with_its_file(tmp_path: Path) -> None:
    root = policy_root(tmp_path, {"history": {"export_allowed": False}})
    facts = welcome_facts_for(load_policy(root), saved=False)
    assert "Your organization manages Enclave" in facts.policy
    assert str(root / "managed" / "10-site.json") in facts.policy
    assert facts.local_only  # managing settings is not allowing a remote route
    assert "not saved" in facts.saved


def test_recommended_settings_only_say_so(tmp_path: Path) -> None:
    root = policy_root(tmp_path, recommended={"history": {"retention_days": 30}})
    facts = welcome_facts_for(load_policy(root), saved=True)
    assert "recommends settings" in facts.policy and "10-site.json" in facts.policy


@pytest.mark.parametrize(("extra", "phrase"), [
    ({}, "claude (outside your organization; redacted first, you confirm before it is sent)"),
    ({"require_confirmation": False},
     "claude (outside your organization; redacted first)"),
])
def test_an_allowed_remote_route_is_named_with_what_applies(
    tmp_path: Path, extra: dict[str, Any], phrase: str,
) -> None:
    root = policy_root(tmp_path, connector(endpoint("claude"), **extra))
    facts = welcome_facts_for(load_policy(root), saved=True)
    assert facts.remote_routes == ("claude",)
    assert not facts.where.startswith("Everything you type stays")
    assert phrase in facts.where


def test_a_route_for_other_users_is_not_offered(tmp_path: Path) -> None:
    root = policy_root(tmp_path, connector(endpoint("claude"), users=["somebody-else"]))
    facts = welcome_facts_for(load_policy(root), saved=True)
    assert facts.local_only and "claude" not in facts.where


def test_restricted_mode_explains_itself_and_keeps_everything_here(tmp_path: Path) -> None:
    facts = welcome_facts_for(load_policy(policy_root(tmp_path, "{broken")), saved=True)
    assert facts.restricted.startswith("Restricted mode")
    assert "bad JSON" in facts.restricted and "nothing leaves this computer" in facts.restricted
    assert facts.local_only


def test_automatic_routing_is_stated(tmp_path: Path) -> None:
    root = policy_root(tmp_path, {**connector(endpoint("inhouse", "internal")),
                                  "routing": {"mode": "auto", "auto_endpoint": "inhouse"}})
    facts = welcome_facts_for(load_policy(root), saved=True)
    assert "inhouse (inside your organization" in facts.where
    assert "Automatic routing is on" in facts.where and "sent to inhouse" in facts.where


def test_routes_given_directly() -> None:
    class Policy:
        sources: list[dict[str, Any]] = []
        restricted = False

    remote = RouteInfo("azure", "openai", "internal", redacted=False, confirm=True)
    facts = welcome_facts(Policy(), [LOCAL, remote], saved=True)
    assert facts.remote_routes == ("azure",)
    assert "azure (inside your organization; you confirm before it is sent)" in facts.where
    assert welcome_facts(Policy(), [LOCAL], saved=True).local_only

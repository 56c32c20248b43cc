"""The gate: who may use which route, and why not; as the CLI shows it."""

from __future__ import annotations

import json

import pytest

from app.cli.connector import render_routes, run_test
from app.core.errors import ExitCode
from app.core.outbound import RouteRefused
from app.core.routing import allowed_hosts, available_routes, decide_route
from tests.integration.connector.conftest import PolicyFactory

EXTERNAL = {"name": "acme-ai", "kind": "openai", "base_url": "https://api.acme.example/v1",
            "classification": "external", "models": ["acme-large"],
            "proxy": "http://proxy.corp.example:3128"}
INTERNAL = {"name": "onprem", "kind": "openai", "base_url": "https://llm.corp.example/v1",
            "classification": "internal", "models": ["llama"]}


def connector(**extra: object) -> dict[str, object]:
    return {"enabled": True, "allowed_users": ["alice"], "allowed_groups": ["analysts"],
            "endpoints": [EXTERNAL, INTERNAL], **extra}


def test_a_user_not_allowed_sees_no_remote_route(make_policy: PolicyFactory) -> None:
    policy = make_policy(connector())
    assert [r.name for r in available_routes(policy, "mallory", ["staff"])] == ["local"]
    assert allowed_hosts(policy, "mallory", ["staff"]) == set()
    decision = decide_route(policy, requested="acme-ai", user="mallory", groups=["staff"])
    assert not decision.allowed and decision.route == "local" and decision.endpoint is None
    assert "not for mallory" in decision.reason
    assert "connector.allowed_users" in decision.rule


def test_allowed_by_name_or_group(make_policy: PolicyFactory) -> None:
    policy = make_policy(connector())
    for user, groups in (("alice", []), ("bob", ["analysts"])):
        names = [r.name for r in available_routes(policy, user, groups)]
        assert names == ["local", "acme-ai", "onprem"]
    assert allowed_hosts(policy, "alice", []) == {
        "api.acme.example", "proxy.corp.example", "llm.corp.example"}


def test_connector_disabled_refuses_with_the_reason(make_policy: PolicyFactory) -> None:
    policy = make_policy(connector(enabled=False))
    decision = decide_route(policy, requested="onprem", user="alice", groups=[])
    assert not decision.allowed
    assert "has not enabled the connector" in decision.reason
    assert [r.name for r in available_routes(policy, "alice", [])] == ["local"]


def test_external_always_redacts_internal_follows_policy(make_policy: PolicyFactory) -> None:
    policy = make_policy(connector(require_redaction=False, require_confirmation=False))
    external = decide_route(policy, requested="acme-ai", user="alice", groups=[])
    internal = decide_route(policy, requested="onprem", user="alice", groups=[])
    assert external.allowed and external.must_redact and not external.must_confirm
    assert internal.allowed and not internal.must_redact
    assert external.endpoint is not None and external.endpoint["base_url"] == EXTERNAL["base_url"]
    strict = make_policy(connector())
    assert decide_route(strict, requested="onprem", user="alice", groups=[]).must_redact
    assert decide_route(strict, requested="onprem", user="alice", groups=[]).must_confirm


def test_local_only_documents_and_blocking_findings_keep_the_turn_local(
    make_policy: PolicyFactory,
) -> None:
    policy = make_policy(connector())
    docs = decide_route(policy, requested="acme-ai", user="alice", groups=[],
                        local_only_documents=True)
    assert not docs.allowed and "local-only" in docs.reason
    marked = decide_route(policy, requested="acme-ai", user="alice", groups=[],
                          redaction_counts={"EMAIL": 1, "CLASSIFICATION": 1})
    assert not marked.allowed and "classification" in marked.reason
    fine = decide_route(policy, requested="acme-ai", user="alice", groups=[],
                        redaction_counts={"EMAIL": 3})
    assert fine.allowed


def test_unknown_route_and_local(make_policy: PolicyFactory) -> None:
    policy = make_policy(connector())
    unknown = decide_route(policy, requested="nope", user="alice", groups=[])
    assert not unknown.allowed and "no remote route named 'nope'" in unknown.reason
    local = decide_route(policy, requested=None, user="mallory", groups=[])
    assert local.allowed and local.route == "local" and not local.must_redact


def test_cli_routes_lists_what_the_user_may_use(
    make_policy: PolicyFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = make_policy(connector())
    assert render_routes(policy, "alice", [], as_json=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in report["routes"]] == ["local", "acme-ai", "onprem"]
    assert report["connector"]["allowed"] is True
    render_routes(policy, "mallory", [])
    out = capsys.readouterr().out
    assert "acme-ai" not in out and "onprem" not in out
    assert "No remote routes: The connector is enabled, but not for mallory" in out


def test_cli_test_of_a_refused_route_says_why(make_policy: PolicyFactory) -> None:
    policy = make_policy(connector())
    with pytest.raises(RouteRefused) as caught:
        run_test(policy, "acme-ai", "mallory", [])
    assert "cannot go to 'acme-ai'" in caught.value.message
    assert "not for mallory" in caught.value.message
    assert caught.value.exit_code == ExitCode.REFUSED

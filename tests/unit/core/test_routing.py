"""Where a turn goes, and why: ``decide_route`` over real policy files, as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.policy import load_policy
from app.core.routing import LOCAL, RouteDecision, decide_route
from tests.policies import policy_root

EXTERNAL = {"name": "acme-ai", "kind": "openai", "base_url": "https://api.acme.example/v1",
            "classification": "external", "models": ["acme-large"]}
INTERNAL = {"name": "onprem", "kind": "openai", "base_url": "https://llm.corp.example/v1",
            "classification": "internal", "models": ["llama"]}


def _decide(tmp_path: Path, connector: dict[str, Any], redaction: dict[str, Any] | None = None,
            **kwargs: Any) -> RouteDecision:
    doc: dict[str, Any] = {"connector": {"enabled": True, "allowed_users": ["alice"],
                                         "endpoints": [EXTERNAL, INTERNAL], **connector}}
    if redaction is not None:
        doc["redaction"] = redaction
    policy = load_policy(policy_root(tmp_path, doc))
    assert not policy.restricted, policy.restricted_reasons
    kwargs.setdefault("user", "alice")
    kwargs.setdefault("groups", [])
    return decide_route(policy, **kwargs)


# (case, connector, redaction, decide_route kwargs, route, allowed, kept_here, rule contains)
CASES: list[tuple[Any, ...]] = [
    ("no route asked", {}, None, {"requested": None}, LOCAL, True, False, "route:local"),
    ("local asked", {}, None, {"requested": "local"}, LOCAL, True, False, "route:local"),
    ("user outside the gate", {}, None, {"requested": "acme-ai", "user": "mallory"},
     LOCAL, False, False, "allowed_users"),
    ("unknown endpoint", {}, None, {"requested": "nowhere"}, LOCAL, False, False,
     "connector.endpoints"),
    ("external", {}, None, {"requested": "acme-ai"}, "acme-ai", True, False, "allowed_users"),
    ("local-only documents", {}, None,
     {"requested": "acme-ai", "local_only_documents": True},
     LOCAL, False, True, "documents:local-only"),
    ("a marking", {}, None,
     {"requested": "acme-ai", "redaction_counts": {"CLASSIFICATION": 1}},
     LOCAL, False, True, "redaction:blocking:CLASSIFICATION"),
    ("a key", {}, None, {"requested": "onprem", "redaction_counts": {"PRIVATE_KEY": 2}},
     LOCAL, False, True, "redaction:blocking:PRIVATE_KEY"),
    ("markings allowed by the admin", {}, {"blocking_types": []},
     {"requested": "acme-ai", "redaction_counts": {"CLASSIFICATION": 1}},
     "acme-ai", True, False, "allowed_users"),
    ("emails never block", {}, None, {"requested": "acme-ai", "redaction_counts": {"EMAIL": 3}},
     "acme-ai", True, False, "allowed_users"),
]


@pytest.mark.parametrize(
    ("connector", "redaction", "kwargs", "route", "allowed", "kept_here", "rule"),
    [case[1:] for case in CASES], ids=[case[0] for case in CASES],
)
def test_each_decision_names_its_route_and_rule(
    tmp_path: Path, connector: dict[str, Any], redaction: dict[str, Any] | None,
    kwargs: dict[str, Any], route: str, allowed: bool, kept_here: bool, rule: str,
) -> None:
    decision = _decide(tmp_path, connector, redaction, **kwargs)
    assert (decision.route, decision.allowed, decision.kept_here) == (route, allowed, kept_here)
    assert rule in decision.rule
    assert decision.reason.strip()
    assert decision.remote == (route != LOCAL)


@pytest.mark.parametrize(
    ("endpoint", "require_redaction", "redacted"),
    [("acme-ai", False, True), ("acme-ai", True, True), ("onprem", False, False),
     ("onprem", True, True)],
)
def test_external_is_always_redacted_internal_only_when_policy_says(
    tmp_path: Path, endpoint: str, require_redaction: bool, redacted: bool,
) -> None:
    decision = _decide(tmp_path, {"require_redaction": require_redaction}, requested=endpoint)
    assert decision.must_redact is redacted


@pytest.mark.parametrize("confirm", [True, False])
def test_confirmation_follows_policy(tmp_path: Path, confirm: bool) -> None:
    decision = _decide(tmp_path, {"require_confirmation": confirm}, requested="acme-ai")
    assert decision.must_confirm is confirm

"""Plain http:// to an endpoint off this machine: refused for external endpoints.

An ``external`` endpoint over ``http://`` sends redacted requests and the API key across
networks the organization does not control, unencrypted. It is refused unless the endpoint
says ``allow_insecure_http: true``, which ``policy validate`` and ``policy show`` warn about
and which every call over it records in the audit log. Loopback (a local TLS proxy, the
tests' fake servers) never leaves the machine and is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.core.audit import events
from app.core.policy import load_policy, validate_file
from app.core.policy.endpoints import insecure_http_override

WriteFn = Callable[..., Path]


def endpoint(base_url: str, classification: str = "external", **extra: Any) -> dict[str, Any]:
    return {"name": "acme", "kind": "openai", "base_url": base_url,
            "classification": classification, "models": ["m"], **extra}


def document(*endpoints: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1,
            "connector": {"enabled": True, "allowed_users": ["*"], "endpoints": list(endpoints)}}


REFUSED = [
    "http://api.acme.example/v1",
    "HTTP://api.acme.example/v1",
    "http://203.0.113.7:8080/v1",
    "http://[2001:db8::1]/v1",
    "http://localhost.acme.example/v1",  # a name that merely starts with "localhost"
    "http://127.0.0.1.nip.io/v1",  # resolves anywhere its owner likes
]
ALLOWED = [
    "https://api.acme.example/v1",
    "http://127.0.0.1:8080/v1",
    "http://127.8.9.10/v1",
    "http://localhost:8080/v1",
    "http://[::1]:8080/v1",
]


@pytest.mark.parametrize("url", REFUSED)
def test_an_external_endpoint_over_plain_http_is_an_error(tmp_path: Path, url: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document(endpoint(url))))
    issues = validate_file(path)
    assert len(issues) == 1, issues
    assert issues[0].path.startswith("$.connector.endpoints[0]")
    assert "https://" in issues[0].reason and "allow_insecure_http" in issues[0].reason


@pytest.mark.parametrize("url", REFUSED)
def test_a_managed_external_http_endpoint_means_restricted_mode(
    policy_root: Path, write: WriteFn, url: str
) -> None:
    write("managed", "10.json", document(endpoint(url)))
    policy = load_policy(policy_root)
    assert policy.restricted
    assert not policy.connector_allowed_for("alice", []).allowed


@pytest.mark.parametrize("url", ALLOWED)
def test_https_and_loopback_endpoints_are_accepted(
    policy_root: Path, write: WriteFn, url: str
) -> None:
    write("managed", "10.json", document(endpoint(url)))
    policy = load_policy(policy_root)
    assert not policy.restricted, policy.restricted_reasons
    assert policy.warnings == []
    assert insecure_http_override(policy.get("connector.endpoints")[0]) is False


def test_the_override_is_accepted_warned_about_and_detectable(
    policy_root: Path, write: WriteFn, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://llm.partner.example/v1"
    path = write("managed", "10.json", document(endpoint(url, allow_insecure_http=True)))
    policy = load_policy(policy_root)
    assert not policy.restricted, policy.restricted_reasons
    assert any("allow_insecure_http" in w and "acme" in w for w in policy.warnings)
    assert insecure_http_override(policy.get("connector.endpoints")[0]) is True
    assert main(["policy", "validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"{path}: ok" in captured.out
    assert "warning:" in captured.err and "allow_insecure_http" in captured.err
    # The event every call over such an endpoint records.
    assert events.CONNECTOR_INSECURE_HTTP in events.ALL_EVENTS


def test_an_internal_endpoint_over_plain_http_is_accepted_with_a_warning(
    policy_root: Path, write: WriteFn
) -> None:
    write("managed", "10.json", document(endpoint("http://llm.corp.example/v1", "internal")))
    policy = load_policy(policy_root)
    assert not policy.restricted
    assert any("unencrypted" in w for w in policy.warnings), policy.warnings


def test_the_override_key_is_declared_in_the_schema_with_a_description() -> None:
    from app.core.policy.schema_outbound import Endpoint

    info = Endpoint.model_fields["allow_insecure_http"]
    assert info.default is False
    assert info.description and "audit" in info.description

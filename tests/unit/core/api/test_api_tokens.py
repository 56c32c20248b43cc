"""What a token may be given: lifetimes, scopes and routes, as real policy files allow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.core.api.tokens import (
    TokenNotAllowed,
    TokenRequestInvalid,
    bounded_expiry,
    check_grant,
    check_name,
    parse_expiry,
    parse_scopes,
)
from app.core.policy import load_policy
from tests.policies import policy_root

NOW = 1_800_000_000.0
DAY = 86_400


def policy(tmp_path: Path, managed=None, name="p"):
    return load_policy(policy_root(tmp_path, managed, name=name))


@pytest.mark.parametrize(("text", "expected"), [
    ("30d", NOW + 30 * DAY), ("12h", NOW + 12 * 3600), ("2w", NOW + 14 * DAY),
    ("90m", NOW + 90 * 60), ("never", float("inf")), (None, None),
    ("2027-01-31", 1_801_353_600.0), ("2027-01-31T12:00:00+01:00", 1_801_393_200.0),
])
def test_lifetimes_people_write(text, expected) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text", ["0d", "-1d", "soon", "2020-01-01", "30 days", "1y", "9" * 9])
def test_lifetimes_that_make_no_sense_are_refused(text) -> None:
    with pytest.raises(TokenRequestInvalid):
        parse_expiry(text, NOW)


def test_names_and_scopes() -> None:
    assert check_name("ci-runner_2.build") == "ci-runner_2.build"
    for bad in ("", "-x", "a b", "x" * 65, "tok\n", "ä"):
        with pytest.raises(TokenRequestInvalid):
            check_name(bad)
    assert parse_scopes(None) == ("chat",)
    assert parse_scopes("history, chat") == ("chat", "history")
    with pytest.raises(TokenRequestInvalid):
        parse_scopes("chat,admin")


def test_policy_bounds_lifetimes(tmp_path: Path) -> None:
    default = policy(tmp_path)
    assert bounded_expiry(default, None, NOW) == NOW + 90 * DAY  # the default longest
    assert bounded_expiry(default, NOW + DAY, NOW) == NOW + DAY
    with pytest.raises(TokenNotAllowed, match="90 days"):
        bounded_expiry(default, float("inf"), NOW)
    unlimited = policy(tmp_path, {"api": {"token_max_days": 0}}, "unlimited")
    assert bounded_expiry(unlimited, None, NOW) is None
    assert bounded_expiry(unlimited, float("inf"), NOW) is None


def test_policy_decides_which_scopes_and_routes_tokens_may_have(tmp_path: Path) -> None:
    default = policy(tmp_path)
    check_grant(default, ("chat", "embeddings", "history"), "local", "alice", [])
    with pytest.raises(TokenNotAllowed, match="route 'corp'"):
        check_grant(default, ("chat",), "corp", "alice", [])
    narrow = policy(tmp_path, {"api": {"allowed_scopes": ["chat"]}}, "narrow")
    with pytest.raises(TokenNotAllowed, match="history"):
        check_grant(narrow, ("chat", "history"), "local", "alice", [])

    endpoint = {"name": "corp", "kind": "openai", "base_url": "https://llm.corp/v1",
                "classification": "internal", "models": ["m"]}
    connector = {"enabled": True, "allowed_users": ["alice"], "endpoints": [endpoint]}
    confirming = policy(tmp_path, {"api": {"allowed_routes": ["local", "corp"]},
                                   "connector": connector}, "confirming")
    with pytest.raises(TokenNotAllowed, match="confirming"):
        check_grant(confirming, ("chat",), "corp", "alice", [])
    open_route = policy(tmp_path, {"api": {"allowed_routes": ["local", "corp"]},
                                   "connector": {**connector, "require_confirmation": False}},
                        "open")
    check_grant(open_route, ("chat",), "corp", "alice", [])
    with pytest.raises(TokenNotAllowed, match="not open to you"):
        check_grant(open_route, ("chat",), "corp", "mallory", [])


def test_a_lifetime_is_measured_from_now() -> None:
    assert parse_expiry("1h", time.time()) > time.time() + 3500

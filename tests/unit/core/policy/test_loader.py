"""load_policy end to end: real files in a real policy root, merged and judged."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.policy import PolicyFileError, check_file, load_policy, validate_file
from app.core.policy.schema import POLICY_KEYS
from tests.policies import write_policy

WriteFn = Callable[..., Path]
MakeRoot = Callable[[Path], Path]

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64
ENABLE_CONNECTOR = {"schema_version": 1, "connector": {"enabled": True, "allowed_users": ["*"]}}


def test_no_policy_root_means_built_in_defaults(tmp_path: Path) -> None:
    policy = load_policy(tmp_path / "absent")
    assert not policy.restricted
    for key, spec in POLICY_KEYS.items():
        entry = policy.entry(key)
        assert (entry.value, entry.level, entry.source) == (spec.default(), "default", "built-in")
        assert not policy.locked(key)


# key, recommended value, managed value (each differs from the default)
MATRIX = [
    ("connector.require_confirmation", False, True),  # bool (default True)
    ("engine.gpu_allowed", False, True),
    ("history.retention_days", 30, 7),  # int
    ("connector.allowed_groups", ["analysts"], ["admins"]),  # list
    ("models.default", "rec-model", "managed-model"),  # str
]


@pytest.mark.parametrize(("key", "recommended", "managed"), MATRIX)
@pytest.mark.parametrize("levels", ["", "r", "m", "rm"])
def test_precedence_managed_over_recommended_over_default(
    policy_root: Path, write: WriteFn, key: str, recommended: Any, managed: Any, levels: str
) -> None:
    section, name = key.split(".")
    if "r" in levels:
        write("recommended", "50-x.json", {"schema_version": 1, section: {name: recommended}})
    if "m" in levels:
        write("managed", "50-x.json", {"schema_version": 1, section: {name: managed}})
    policy = load_policy(policy_root)
    entry = policy.entry(key)
    if "m" in levels:
        assert (policy.get(key), entry.level, policy.locked(key)) == (managed, "managed", True)
        assert entry.source == str(policy_root / "managed" / "50-x.json")
    elif "r" in levels:
        assert (policy.get(key), entry.level, policy.locked(key)) == (
            recommended,
            "recommended",
            False,
        )
    else:
        assert (policy.get(key), entry.level) == (POLICY_KEYS[key].default(), "default")
    if levels == "rm":
        assert entry.status == "superseded"
        assert entry.superseded_value == recommended
    assert not policy.restricted


def test_files_merge_in_name_order_last_wins_per_key(policy_root: Path, write: WriteFn) -> None:
    write("managed", "20-b.json", {"schema_version": 1, "history": {"retention_days": 20}})
    write(
        "managed",
        "10-a.json",
        {"schema_version": 1, "history": {"retention_days": 10, "export_allowed": False}},
    )
    write("managed", "readme.txt", "not json, not a .json file: never read")
    policy = load_policy(policy_root)
    assert policy.get("history.retention_days") == 20
    assert policy.get("history.export_allowed") is False  # only 10-a sets it: it still applies
    entry = policy.entry("history.retention_days")
    assert entry.status == "superseded"
    assert entry.superseded_value == 10
    assert entry.superseded_source == str(policy_root / "managed" / "10-a.json")
    assert not policy.restricted


def _break_bad_json(root: Path) -> None:
    write_policy(root, "managed", "10-x.json", '{"schema_version": 1, "connector": ')


def _break_wrong_type(root: Path) -> None:
    write_policy(
        root, "managed", "10-x.json", {"schema_version": 1, "connector": {"enabled": "no"}}
    )


def _break_unknown_key(root: Path) -> None:
    write_policy(
        root, "managed", "10-x.json", {"schema_version": 1, "connector": {"enable": False}}
    )


def _break_version(root: Path) -> None:
    write_policy(root, "managed", "10-x.json", {"schema_version": 99})


def _break_world_writable(root: Path) -> None:
    write_policy(root, "managed", "10-x.json", {"schema_version": 1}, mode=0o666)


def _break_owner(root: Path) -> None:
    path = write_policy(root, "managed", "10-x.json", {"schema_version": 1})
    os.chown(path, 1000, 1000)


def _break_unreadable(root: Path) -> None:
    write_policy(root, "managed", "10-x.json", b'{"schema_version": 1, "ui": "\xff\xfe"}')


def _break_not_a_file(root: Path) -> None:
    (root / "managed" / "10-x.json").mkdir()


def _break_directory_writable(root: Path) -> None:
    os.chmod(root / "managed", 0o777)


def _break_directory_owner(root: Path) -> None:
    os.chown(root / "managed", 1000, 1000)


BREAKAGES = [
    (_break_bad_json, "bad JSON"),
    (_break_wrong_type, "$.connector.enabled"),
    (_break_unknown_key, "unknown policy key"),
    (_break_version, "unknown schema_version 99"),
    (_break_world_writable, "writable by group or others"),
    (_break_owner, "owned by uid 1000"),
    (_break_unreadable, "cannot be read"),
    (_break_not_a_file, "not a regular file"),
    (_break_directory_writable, "the managed directory is writable by group or others"),
    (_break_directory_owner, "the managed directory is owned by uid 1000"),
]


@pytest.mark.parametrize(("breakage", "reason"), BREAKAGES, ids=[b[0].__name__ for b in BREAKAGES])
def test_a_broken_managed_source_fails_closed(
    policy_root: Path, breakage: Any, reason: str
) -> None:
    # A valid file that would enable the connector and export: restricted mode beats it.
    write_policy(
        policy_root,
        "managed",
        "05-ok.json",
        {**ENABLE_CONNECTOR, "history": {"export_allowed": True}},
    )
    breakage(policy_root)
    policy = load_policy(policy_root)
    assert policy.restricted
    assert any(reason in r for r in policy.restricted_reasons), policy.restricted_reasons
    assert policy.get("connector.enabled") is False
    assert policy.get("history.export_allowed") is False
    assert policy.locked("connector.enabled")
    decision = policy.connector_allowed_for("alice", ["analysts"])
    assert (decision.allowed, decision.rule) == (False, "restricted-mode")
    assert policy.report()["restricted"] is True


def test_an_invalid_managed_key_is_locked_at_a_safe_value(
    policy_root: Path, write: WriteFn
) -> None:
    write("managed", "10.json", {"schema_version": 1, "history": {"retention_days": "seven"}})
    policy = load_policy(policy_root)
    entry = policy.entry("history.retention_days")
    assert (entry.status, entry.level, policy.locked("history.retention_days")) == (
        "error",
        "managed",
        True,
    )
    assert "$.history.retention_days" in entry.message


def test_a_bad_recommended_key_is_skipped_and_the_rest_applies(
    policy_root: Path, write: WriteFn
) -> None:
    write(
        "recommended",
        "10.json",
        {
            "schema_version": 1,
            "history": {"retention_days": "thirty", "export_allowed": False},
            "ui": {"colour": "blue"},
            "models": {"default": "granite"},
        },
    )
    policy = load_policy(policy_root)
    assert not policy.restricted
    assert policy.get("history.export_allowed") is False
    assert policy.get("models.default") == "granite"
    assert policy.get("history.retention_days") == 0
    assert policy.entry("history.retention_days").status == "ignored"
    assert any("retention_days" in w for w in policy.warnings)
    assert any("$.ui.colour" in w for w in policy.warnings)


def test_a_broken_recommended_file_is_only_a_warning(policy_root: Path, write: WriteFn) -> None:
    write("recommended", "10.json", "{{{")
    write("recommended", "20.json", {"schema_version": 1, "engine": {"max_context": 8192}})
    policy = load_policy(policy_root)
    assert not policy.restricted
    assert policy.get("engine.max_context") == 8192
    assert any("bad JSON" in w for w in policy.warnings)


def test_model_allowlist_decisions_name_the_rule(policy_root: Path, write: WriteFn) -> None:
    path = write(
        "managed",
        "10-models.json",
        {"schema_version": 1, "models": {"allowed_sha256": [DIGEST_A.upper()]}},
    )
    policy = load_policy(policy_root)
    rule = f"managed:models.allowed_sha256 ({path})"
    assert policy.check_model(DIGEST_A).allowed
    assert policy.check_model(DIGEST_A).rule == rule
    refused = policy.check_model(DIGEST_B)
    assert (refused.allowed, refused.rule) == (False, rule)
    assert "not on your organization's list" in refused.reason
    assert not policy.check_model("not-a-digest").allowed


def test_no_allowlist_allows_any_model(policy_root: Path) -> None:
    assert load_policy(policy_root).check_model(DIGEST_B).allowed


@pytest.mark.parametrize(
    "content",
    [
        {"schema_version": 1, "models": {"allowed_sha256": ["not-hex"]}},
        {"schema_version": 1, "models": {"allowed_sha256": DIGEST_A}},
        '{"schema_version": 1, "models": {"allowed_sha256": [',
        b"\xff\xfe garbage",
        {"schema_version": 1, "models": {"allowed_sha265": [DIGEST_A]}},
        {"schema_version": 1, "modles": {"allowed_sha256": [DIGEST_A]}},
    ],
)
def test_an_unreadable_allowlist_means_no_model_loads(
    policy_root: Path, write: WriteFn, content: Any
) -> None:
    write("managed", "05-ok.json", {"schema_version": 1, "models": {"allowed_sha256": [DIGEST_A]}})
    write("managed", "10-models.json", content)
    policy = load_policy(policy_root)
    for digest in (DIGEST_A, DIGEST_B):
        decision = policy.check_model(digest)
        assert (decision.allowed, decision.rule) == (False, "restricted-mode")
        assert "could not be read" in decision.reason


def test_an_invalid_non_allowlist_key_leaves_models_to_the_allowlist(
    policy_root: Path, write: WriteFn
) -> None:
    write(
        "managed",
        "10.json",
        {
            "schema_version": 1,
            "models": {"allowed_sha256": [DIGEST_A]},
            "audit": {"forward": "nowhere"},
        },
    )
    policy = load_policy(policy_root)
    assert policy.restricted
    assert policy.check_model(DIGEST_A).allowed
    assert not policy.check_model(DIGEST_B).allowed


@pytest.mark.parametrize(
    ("connector", "user", "groups", "allowed", "rule_key"),
    [
        ({"enabled": False, "allowed_users": ["alice"]}, "alice", [], False, "connector.enabled"),
        (
            {"enabled": True, "allowed_users": ["alice"]},
            "alice",
            [],
            True,
            "connector.allowed_users",
        ),
        (
            {"enabled": True, "allowed_users": ["alice"]},
            "bob",
            [],
            False,
            "connector.allowed_users",
        ),
        (
            {"enabled": True, "allowed_groups": ["ana"]},
            "bob",
            ["x", "ana"],
            True,
            "connector.allowed_groups",
        ),
        ({"enabled": True}, "bob", [], False, "connector.allowed_users"),
        ({"enabled": True, "allowed_users": ["*"]}, "bob", [], True, "connector.allowed_users"),
    ],
)
def test_connector_decisions(
    policy_root: Path,
    write: WriteFn,
    connector: dict[str, Any],
    user: str,
    groups: list[str],
    allowed: bool,
    rule_key: str,
) -> None:
    write("managed", "10.json", {"schema_version": 1, "connector": connector})
    decision = load_policy(policy_root).connector_allowed_for(user, groups)
    assert decision.allowed is allowed
    assert f":{rule_key} (" in decision.rule
    assert decision.reason


def test_sha256_identifies_the_effective_values(policy_root: Path, write: WriteFn) -> None:
    first = load_policy(policy_root).sha256
    assert load_policy(policy_root).sha256 == first
    write("recommended", "10.json", {"schema_version": 1, "ui": {"classification_banner": None}})
    assert load_policy(policy_root).sha256 == first  # same values, same digest
    write("managed", "10.json", {"schema_version": 1, "engine": {"max_context": 2048}})
    assert load_policy(policy_root).sha256 != first
    assert len(first) == 64


def test_report_is_json_and_names_every_key(policy_root: Path, write: WriteFn) -> None:
    write("managed", "10.json", {"schema_version": 1, "connector": {"enabled": "x"}})
    report = json.loads(json.dumps(load_policy(policy_root).report()))
    assert set(report["keys"]) == set(POLICY_KEYS)
    assert report["restricted"] is True
    assert report["keys"]["connector.enabled"]["level"] == "managed"
    assert report["sources"][0]["status"] == "error"


def test_get_returns_a_copy(policy_root: Path, write: WriteFn) -> None:
    write("managed", "10.json", {"schema_version": 1, "connector": {"allowed_users": ["alice"]}})
    policy = load_policy(policy_root)
    policy.get("connector.allowed_users").append("mallory")
    assert policy.get("connector.allowed_users") == ["alice"]


# -- properties: no input makes the loader raise -------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
SECTIONS = sorted({k.split(".")[0] for k in POLICY_KEYS})
FIELDS = sorted({k.split(".")[1] for k in POLICY_KEYS})
policy_like = st.fixed_dictionaries(
    {"schema_version": st.one_of(st.just(1), json_values)},
    optional={
        s: st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), json_values, max_size=4)
        | json_values
        for s in SECTIONS
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(managed=json_values | policy_like, recommended=json_values | policy_like)
def test_arbitrary_json_never_raises_from_load_policy(
    make_policy_root: MakeRoot, managed: Any, recommended: Any
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_policy_root(Path(tmp))
        write_policy(root, "managed", "10.json", json.dumps(managed))
        write_policy(root, "recommended", "10.json", json.dumps(recommended))
        policy = load_policy(root)
        path = root / "managed" / "10.json"
        issues = validate_file(path)
        assert policy.restricted == bool(issues)
        if issues:
            with pytest.raises(PolicyFileError) as caught:
                check_file(path)
            assert caught.value.issues == issues
        else:
            check_file(path)
        json.dumps(policy.report())


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_never_raise(make_policy_root: MakeRoot, raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_policy_root(Path(tmp))
        write_policy(root, "managed", "10.json", raw)
        policy = load_policy(root)
        assert policy.restricted == bool(validate_file(root / "managed" / "10.json"))

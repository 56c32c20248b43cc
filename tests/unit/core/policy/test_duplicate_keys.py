"""Duplicate JSON keys: two readers may disagree on which value counts, so neither does.

``{"enabled": false, "enabled": true}`` used to load with the last value. A duplicate at any
depth in any policy source (file or registry value holding JSON) is now an error that names
the file, the JSON path and the key; in a managed source it means restricted mode.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.core.policy import load_policy, validate_file
from app.core.policy.sources import registry_document

WriteFn = Callable[..., Path]
MakeRoot = Callable[[Path], Path]

ENDPOINT = (
    '{"name": "acme", "kind": "openai", "base_url": "https://api.acme.example/v1", '
    '"classification": "external", "models": ["m"]'
)

# (file text, JSON path of the duplicate, the duplicated key)
DUPLICATES = [
    (
        '{"schema_version": 1, "connector": {"enabled": false, "enabled": true, '
        '"allowed_users": ["*"]}}',
        "$.connector.enabled",
        "enabled",
    ),
    (
        '{"schema_version": 1, "connector": {"enabled": false}, '
        '"connector": {"enabled": true, "allowed_users": ["*"]}}',
        "$.connector",
        "connector",
    ),
    ('{"schema_version": 1, "schema_version": 1}', "$.schema_version", "schema_version"),
    (
        '{"schema_version": 1, "connector": {"endpoints": [' + ENDPOINT + ', '
        '"classification": "internal"}]}}',
        "$.connector.endpoints[0].classification",
        "classification",
    ),
    (
        '{"schema_version": 1, "connector": {"endpoints": [' + ENDPOINT + ', "prices": '
        '{"m": {"input_per_mtok": 1, "output_per_mtok": 2, "input_per_mtok": 0}}}]}}',
        "$.connector.endpoints[0].prices.m.input_per_mtok",
        "input_per_mtok",
    ),
    # An escape spells the same key: JSON decodes it before comparing.
    (
        '{"schema_version": 1, "history": {"export_allowed": false, "export_allow\\u0065d": true}}',
        "$.history.export_allowed",
        "export_allowed",
    ),
]


@pytest.mark.parametrize(("text", "json_path", "key"), DUPLICATES)
def test_validate_names_file_path_and_key_of_a_duplicate(
    tmp_path: Path, text: str, json_path: str, key: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    issues = validate_file(path)
    duplicates = [i for i in issues if "duplicate key" in i.reason]
    assert [(i.source, i.path) for i in duplicates] == [(str(path), json_path)]
    assert f'"{key}"' in duplicates[0].reason


@pytest.mark.parametrize(("text", "json_path", "key"), DUPLICATES)
def test_a_duplicate_in_a_managed_file_means_restricted_mode(
    policy_root: Path, write: WriteFn, text: str, json_path: str, key: str
) -> None:
    write("managed", "10.json", text)
    policy = load_policy(policy_root)
    assert policy.restricted
    assert any(json_path in r and "duplicate key" in r for r in policy.restricted_reasons)
    assert policy.get("connector.enabled") is False
    assert policy.get("history.export_allowed") is False


def test_a_duplicate_in_a_recommended_file_is_ignored_not_applied(
    policy_root: Path, write: WriteFn
) -> None:
    write("recommended", "10.json", '{"schema_version": 1, "history": '
          '{"retention_days": 7, "retention_days": 30}}')
    policy = load_policy(policy_root)
    assert not policy.restricted
    assert policy.get("history.retention_days") == 0  # the built-in default, not 7 or 30
    assert any("duplicate key" in w for w in policy.warnings)


def test_the_cli_reports_a_duplicate_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.json"
    path.write_text(DUPLICATES[0][0])
    assert main(["policy", "validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f'{path}: $.connector.enabled: duplicate key "enabled"' in err


def test_a_registry_value_holding_json_with_a_duplicate_is_an_error() -> None:
    source = r"HKLM\SOFTWARE\Policies\Enclave"
    parsed = registry_document(
        {"connector.endpoints": "[" + ENDPOINT + ', "name": "other"}]'}, source
    )
    assert parsed.fatal
    assert any(
        "duplicate key" in i.reason and i.path == "$.connector.endpoints[0].name"
        for i in parsed.issues
    ), parsed.issues


# -- property: a duplicate at any depth ----------------------------------------------------

_keys = st.text(st.characters(codec="utf-8", exclude_characters='"\\'), max_size=6)
_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
_trees = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(_keys, children, min_size=1, max_size=3),
    max_leaves=10,
)


def _objects(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths (tuples of keys and indexes) of every object in a tree."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        found.append(path)
        for k, v in value.items():
            found += _objects(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _objects(v, (*path, i))
    return found


def _dump(value: Any, target: tuple[Any, ...], key: str, path: tuple[Any, ...] = ()) -> str:
    """JSON text of ``value`` in which the object at ``target`` holds ``key`` twice."""
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v, target, key, (*path, i)) for i, v in enumerate(value)) + "]"
    if not isinstance(value, dict):
        return json.dumps(value)
    members = [f"{json.dumps(k)}: {_dump(v, target, key, (*path, k))}" for k, v in value.items()]
    if path == target:
        members.append(f"{json.dumps(key)}: {json.dumps(value[key])}")
    return "{" + ", ".join(members) + "}"


def _expected_path(path: tuple[Any, ...]) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(tree=_trees.filter(lambda t: bool(_objects(t))), data=st.data())
def test_a_duplicate_at_any_depth_of_a_managed_file_means_restricted_mode(
    make_policy_root: MakeRoot, write_file: WriteFn, tree: Any, data: st.DataObject
) -> None:
    # The tree sits under a real key so that only the duplicate can make the file invalid.
    document = {"schema_version": 1, "redaction": {"custom_terms": ["x"]}, "x": tree}
    target = data.draw(st.sampled_from(_objects(document)), label="object")
    node: Any = document
    for part in target:
        node = node[part]
    key = data.draw(st.sampled_from(sorted(node)), label="key")
    text = _dump(document, target, key)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_policy_root(Path(tmp))
        path = write_file(root, "managed", "10.json", text)
        issues = [i for i in validate_file(path) if "duplicate key" in i.reason]
        assert [i.path for i in issues] == [_expected_path((*target, key))]
        policy = load_policy(root)
        assert policy.restricted
        assert any("duplicate key" in r for r in policy.restricted_reasons)

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.policy import PolicyFileError, check_file, validate_file


def test_valid_file_has_no_issues(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"schema_version": 1, "connector": {"enabled": true}}')
    assert validate_file(path) == []
    check_file(path)


@pytest.mark.parametrize(
    ("text", "json_path", "reason"),
    [
        (
            '{"schema_version": 1, "connector": {"endpoints": [{"name": "x", "kind": "openai", '
            '"base_url": "ftp://x", "classification": "internal"}]}}',
            "$.connector.endpoints[0].base_url",
            "http",
        ),
        (
            '{"schema_version": 1, "history": {"retention_days": "1"}}',
            "$.history.retention_days",
            "integer",
        ),
        ('{"schema_version": 1, "histroy": {}}', "$.histroy", "unknown policy section"),
        ('{"schema_version": 1, "history": []}', "$.history", "JSON object"),
        ('{"schema_version": 2}', "$.schema_version", "unknown schema_version"),
        ("[1, 2]", "$", "JSON object"),
        ('{"schema_version": 1,}', "$", "bad JSON"),
        ('{"schema_version": NaN}', "$", "bad JSON"),
    ],
)
def test_issue_names_file_json_path_and_reason(
    tmp_path: Path, text: str, json_path: str, reason: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    issues = validate_file(path)
    assert [(i.source, i.path) for i in issues] == [(str(path), json_path)]
    assert reason in issues[0].reason
    with pytest.raises(PolicyFileError) as caught:
        check_file(path)
    assert json_path in caught.value.message


def test_missing_file_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    issues = validate_file(tmp_path / "absent.json")
    assert "cannot be read" in issues[0].reason


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(
        '{"schema_version": 1, "redaction": {"custom_terms": ["' + "x" * 2_000_000 + '"]}}'
    )
    assert "larger than" in validate_file(path)[0].reason


def test_deeply_nested_json_is_an_issue(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert validate_file(path)

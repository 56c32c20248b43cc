from __future__ import annotations

import pytest

from app.core.policy.migrations import UnknownSchemaVersion, migrate
from app.core.policy.schema import POLICY_KEYS, SCHEMA_VERSION, PolicyDocument
from app.core.policy.validate import validate_document, validate_value

REQUIRED_KEYS = {
    "models.allowed_sha256",
    "models.default",
    "connector.enabled",
    "connector.allowed_users",
    "connector.allowed_groups",
    "connector.endpoints",
    "connector.require_redaction",
    "connector.require_confirmation",
    "redaction.custom_terms",
    "redaction.custom_patterns",
    "history.retention_days",
    "history.export_allowed",
    "audit.log_content",
    "audit.required",
    "audit.forward",
    "ui.classification_banner",
    "engine.gpu_allowed",
    "engine.max_context",
    "documents.enabled",
}


def test_schema_declares_every_key_the_product_needs() -> None:
    assert set(POLICY_KEYS) >= REQUIRED_KEYS


@pytest.mark.parametrize("key", sorted(POLICY_KEYS))
def test_every_key_has_a_description_and_a_default_that_validates(key: str) -> None:
    spec = POLICY_KEYS[key]
    assert spec.description.strip(), f"{key} has no description"
    value, issues = validate_value(spec, spec.default(), "test")
    assert issues == []
    assert value == spec.default()


def test_safe_defaults() -> None:
    assert POLICY_KEYS["connector.enabled"].default() is False
    assert POLICY_KEYS["connector.require_redaction"].default() is True
    assert POLICY_KEYS["audit.log_content"].default() is False
    assert POLICY_KEYS["history.retention_days"].default() == 0
    assert POLICY_KEYS["models.allowed_sha256"].default() == []


def test_schema_version_is_required_in_a_file() -> None:
    result = validate_document({"connector": {"enabled": True}}, "f.json")
    assert result.fatal
    assert result.issues[0].path == "$.schema_version"
    assert "schema_version" in PolicyDocument.model_json_schema()["required"]


def test_endpoint_is_validated_field_by_field() -> None:
    endpoint = {
        "name": "corp",
        "kind": "openai",
        "base_url": "https://llm.corp/v1",
        "classification": "internal",
        "models": ["m"],
        "ca_bundle": "/etc/ssl/corp.pem",
        "proxy": None,
        "prices": {"m": {"input_per_mtok": 1, "output_per_mtok": 2.5}},
    }
    ok = validate_document({"schema_version": 1, "connector": {"endpoints": [endpoint]}}, "f")
    assert ok.issues == []
    assert ok.values["connector.endpoints"][0]["prices"]["m"]["input_per_mtok"] == 1.0
    bad = validate_document(
        {"schema_version": 1, "connector": {"endpoints": [{**endpoint, "kind": "gemini"}]}}, "f"
    )
    assert [i.path for i in bad.issues] == ["$.connector.endpoints[0].kind"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("audit.forward", "tcp://collector.corp:514"),
        ("redaction.custom_patterns", [r"PRJ-\d{4}"]),
        (
            "ui.classification_banner",
            {"text": "SECRET", "foreground": "#FFFFFF", "background": "#C8102E"},
        ),
    ],
)
def test_valid_values_pass(key: str, value: object) -> None:
    assert validate_value(POLICY_KEYS[key], value, "t")[1] == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("audit.forward", "collector:514"),
        ("redaction.custom_patterns", ["(unclosed"]),
        ("redaction.custom_patterns", ["a{99999999999}"]),
        ("models.allowed_sha256", ["abc"]),
        ("connector.enabled", "true"),
        ("connector.enabled", 1),
        ("history.retention_days", -1),
        ("history.retention_days", 1.5),
        ("ui.classification_banner", {"text": "X", "background": "red"}),
    ],
)
def test_invalid_values_are_reported_not_raised(key: str, value: object) -> None:
    validated, issues = validate_value(POLICY_KEYS[key], value, "t")
    assert validated is None
    assert issues
    assert all(issue.key == key for issue in issues)


def test_digests_are_normalised_to_lower_case() -> None:
    value, _ = validate_value(POLICY_KEYS["models.allowed_sha256"], ["AB" * 32], "t")
    assert value == ["ab" * 32]


def test_migrate_rejects_unknown_versions() -> None:
    for version in (0, SCHEMA_VERSION + 1, "1", True, None):
        with pytest.raises(UnknownSchemaVersion):
            migrate({"schema_version": version})


def test_migrate_applies_each_step_in_order() -> None:
    def rename(doc: dict[str, object]) -> dict[str, object]:
        doc = dict(doc)
        doc["connector"] = doc.pop("remote", {})
        return doc

    migrated = migrate({"schema_version": 1, "remote": {"enabled": True}}, 2, {1: rename})
    assert migrated == {"schema_version": 2, "connector": {"enabled": True}}
    with pytest.raises(UnknownSchemaVersion, match="no migration from schema_version 2"):
        migrate({"schema_version": 1}, 3, {1: rename})

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from app.core.policy.export import ADMX_NS, json_schema, write_admx
from app.core.policy.schema import POLICY_KEYS
from app.core.policy.sources import registry_document

NS = {"p": ADMX_NS}


def test_admx_and_adml_are_well_formed_with_one_policy_per_key(tmp_path: Path) -> None:
    admx_path, adml_path = write_admx(tmp_path)
    assert adml_path == tmp_path / "en-US" / "Enclave.adml"
    admx = ET.parse(admx_path).getroot()
    adml = ET.parse(adml_path).getroot()
    policies = admx.findall("p:policies/p:policy", NS)
    managed = [p for p in policies if not p.get("key", "").endswith("Recommended")]
    recommended = [p for p in policies if p.get("key", "").endswith("Recommended")]
    assert len(managed) == len(recommended) == len(POLICY_KEYS)
    value_names = set()
    for policy in managed:
        value_names |= {policy.get("valueName")} | {
            e.get("valueName") for e in policy.iterfind("p:elements/*", NS)
        }
    assert set(POLICY_KEYS) <= value_names
    # Every $(string.x) and $(presentation.x) the ADMX uses is defined in the ADML.
    strings = {s.get("id") for s in adml.iterfind(".//p:stringTable/p:string", NS)}
    presentations = {s.get("id") for s in adml.iterfind(".//p:presentationTable/*", NS)}
    for element in admx.iter():
        for value in element.attrib.values():
            if value.startswith("$(string."):
                assert value[9:-1] in strings
            if value.startswith("$(presentation."):
                assert value[15:-1] in presentations


def test_registry_values_as_the_admx_writes_them_are_read_back() -> None:
    parsed = registry_document(
        {
            "connector.enabled": 1,
            "history.retention_days": 30,
            "models.default": "123",
            "connector.allowed_users": '["alice", "bob"]',
            "audit.forward": "tcp://siem:514",
        },
        r"HKLM\SOFTWARE\Policies\Enclave",
    )
    assert parsed.issues == []
    assert parsed.values == {
        "connector.enabled": True,
        "history.retention_days": 30,
        "models.default": "123",
        "connector.allowed_users": ["alice", "bob"],
        "audit.forward": "tcp://siem:514",
    }


def test_registry_value_of_the_wrong_type_is_an_issue() -> None:
    parsed = registry_document({"connector.enabled": 7}, "HKLM")
    assert [i.key for i in parsed.issues] == ["connector.enabled"]


def test_json_schema_covers_every_key_with_its_description() -> None:
    schema = json_schema()
    assert schema["required"] == ["schema_version"]
    defs = schema["$defs"]
    for key, spec in POLICY_KEYS.items():
        section_ref = schema["properties"][key.split(".")[0]]
        ref = section_ref.get("$ref") or section_ref["allOf"][0]["$ref"]
        section = defs[ref.rsplit("/", 1)[1]]
        assert section["additionalProperties"] is False
        assert section["properties"][spec.field]["description"] == spec.description

r"""Exports generated from the policy schema: JSON Schema and Group Policy templates (ADMX).

The ADMX template declares one managed policy per key under ``HKLM\SOFTWARE\Policies\Enclave``
and one recommended policy per key under ``...\Enclave\Recommended``; the registry value name
is the dotted key, which is what :mod:`app.core.policy.sources` reads. Booleans are DWORD 0/1,
integers DWORDs, strings strings, and lists or objects strings holding JSON.
"""

from __future__ import annotations

import json
import types
import typing
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from app.core.policy.schema import POLICY_KEYS, SCHEMA_VERSION, KeySpec, PolicyDocument
from app.core.policy.sources import REGISTRY_KEY

ADMX_NS = "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"
ADMX_NAMESPACE = "Enclave.Policies.Enclave"
_DWORD_MAX = 4294967295


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file."""
    schema = PolicyDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Enclave policy (schema_version {SCHEMA_VERSION})"
    return schema


def _base_type(annotation: Any) -> Any:
    """The type under ``Optional[...]`` and ``Annotated[...]``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            annotation = rest[0]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _kind(spec: KeySpec) -> str:
    """``boolean``, ``decimal``, ``text`` (a plain string) or ``json`` (anything else)."""
    base = _base_type(spec.info.annotation)
    if base is bool:
        return "boolean"
    if base is int:
        return "decimal"
    return "text" if base is str else "json"


def _min_value(spec: KeySpec) -> int:
    for meta in spec.info.metadata:
        ge = getattr(meta, "ge", None)
        if isinstance(ge, int):
            return ge
    return 0


def _policy_id(key: str, recommended: bool) -> str:
    return key.replace(".", "_") + ("_recommended" if recommended else "")


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, attrs)


# Long on purpose: one flat pass over the schema writing both XML documents side by side.
def build_admx() -> tuple[ET.ElementTree, ET.ElementTree]:
    """Build the ADMX and the en-US ADML documents."""
    ET.register_namespace("", ADMX_NS)
    q = f"{{{ADMX_NS}}}"
    admx = ET.Element(f"{q}policyDefinitions", revision="1.0", schemaVersion="1.0")
    namespaces = _sub(admx, f"{q}policyNamespaces")
    _sub(namespaces, f"{q}target", prefix="enclave", namespace=ADMX_NAMESPACE)
    _sub(admx, f"{q}resources", minRequiredRevision="1.0")
    supported = _sub(_sub(admx, f"{q}supportedOn"), f"{q}definitions")
    _sub(supported, f"{q}definition", name="SUPPORTED_Enclave", displayName="$(string.SUPPORTED)")
    categories = _sub(admx, f"{q}categories")
    policies = _sub(admx, f"{q}policies")

    adml = ET.Element(f"{q}policyDefinitionResources", revision="1.0", schemaVersion="1.0")
    _sub(adml, f"{q}displayName").text = "Enclave"
    _sub(adml, f"{q}description").text = "Policies for the Enclave AI assistant."
    resources = _sub(adml, f"{q}resources")
    strings = _sub(resources, f"{q}stringTable")
    presentations = _sub(resources, f"{q}presentationTable")

    def string(ident: str, text: str) -> None:
        _sub(strings, f"{q}string", id=ident).text = text

    string("SUPPORTED", f"Enclave with policy schema_version {SCHEMA_VERSION}")
    string("Cat_Enclave", "Enclave")
    string("Cat_Recommended", "Enclave (recommended: users may change)")
    _sub(categories, f"{q}category", name="Enclave", displayName="$(string.Cat_Enclave)")
    _sub(categories, f"{q}category", name="Recommended", displayName="$(string.Cat_Recommended)")
    sections_done: set[str] = set()

    for recommended in (False, True):
        root_category = "Recommended" if recommended else "Enclave"
        registry_key = REGISTRY_KEY + (r"\Recommended" if recommended else "")
        for key, spec in POLICY_KEYS.items():
            section = key.split(".", 1)[0]
            category = f"{root_category}_{section}"
            if category not in sections_done:
                sections_done.add(category)
                element = _sub(
                    categories,
                    f"{q}category",
                    name=category,
                    displayName=f"$(string.Cat_{section})",
                )
                _sub(element, f"{q}parentCategory", ref=root_category)
                if section not in sections_done:
                    sections_done.add(section)
                    string(f"Cat_{section}", section)
            ident = _policy_id(key, recommended)
            kind = _kind(spec)
            policy = _sub(
                policies,
                f"{q}policy",
                name=ident,
                displayName=f"$(string.{ident})",
                explainText=f"$(string.{ident}_Explain)",
                key=registry_key,
            )
            policy.set("class", "Machine")
            _sub(policy, f"{q}parentCategory", ref=category)
            _sub(policy, f"{q}supportedOn", ref="SUPPORTED_Enclave")
            string(ident, key)
            explain = spec.description
            if kind == "json":
                explain += " Enter the value as JSON."
            explain += f" Default: {json.dumps(spec.default())}."
            string(f"{ident}_Explain", explain)
            if kind == "boolean":
                policy.set("valueName", key)
                _sub(_sub(policy, f"{q}enabledValue"), f"{q}decimal", value="1")
                _sub(_sub(policy, f"{q}disabledValue"), f"{q}decimal", value="0")
                continue
            policy.set("presentation", f"$(presentation.{ident})")
            elements = _sub(policy, f"{q}elements")
            presentation = _sub(presentations, f"{q}presentation", id=ident)
            if kind == "decimal":
                _sub(
                    elements,
                    f"{q}decimal",
                    id=ident,
                    valueName=key,
                    minValue=str(_min_value(spec)),
                    maxValue=str(_DWORD_MAX),
                )
                _sub(presentation, f"{q}decimalTextBox", refId=ident).text = key
            else:
                _sub(elements, f"{q}text", id=ident, valueName=key, maxLength="32767")
                box = _sub(presentation, f"{q}textBox", refId=ident)
                _sub(box, f"{q}label").text = key
    return ET.ElementTree(admx), ET.ElementTree(adml)


def write_admx(outdir: Path) -> list[Path]:
    """Write ``Enclave.admx`` and ``en-US/Enclave.adml`` under ``outdir``.

    Returns:
        The two files written.
    """
    admx, adml = build_admx()
    admx_path = outdir / "Enclave.admx"
    adml_path = outdir / "en-US" / "Enclave.adml"
    adml_path.parent.mkdir(parents=True, exist_ok=True)
    for tree, path in ((admx, admx_path), (adml, adml_path)):
        ET.indent(tree)
        tree.write(path, encoding="utf-8", xml_declaration=True)
    return [admx_path, adml_path]

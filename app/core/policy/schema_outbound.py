"""The policy sections about what may leave the machine: connector, redaction, routing, API.

Part of the policy schema (``schema`` assembles the document from these sections).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from app.core.policy.endpoints import external_http_problem
from app.core.policy.schema_types import HttpUrl, NonEmpty, RegexPattern, _Strict


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


def _check_ip(address: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_address(address)
    except ValueError:
        # A name would be resolved where it is used, by whoever answers for it.
        raise ValueError("must be an IP address, not a name") from None
    return address


IpAddress = Annotated[str, AfterValidator(_check_ip)]
ApiScope = Literal["chat", "embeddings", "history"]


def _every_api_scope() -> list[ApiScope]:
    return ["chat", "embeddings", "history"]


class ApiPolicy(_Strict):
    """The local OpenAI-compatible API (`enclave serve`): off unless policy turns it on."""

    enabled: bool = Field(
        default=False,
        description="Allow `enclave serve` (a local OpenAI-compatible API for this user's own "
        "programs) to run at all; while false it refuses to start.",
    )
    remote_bind_addresses: list[IpAddress] = Field(
        default_factory=list,
        description="Addresses other than loopback the API may listen on (`enclave serve "
        "--host`); honoured only from managed policy and only with api.tls_cert and "
        "api.tls_key. Empty: only 127.0.0.1 and the user's own Unix socket.",
    )
    tls_cert: str | None = Field(
        default=None,
        description="The site certificate (PEM chain) the API serves beyond loopback; honoured "
        "only from managed policy.",
    )
    tls_key: str | None = Field(
        default=None,
        description="The private key (PEM) of api.tls_cert; honoured only from managed policy.",
    )
    allowed_routes: list[NonEmpty] = Field(
        default_factory=lambda: ["local"],
        description='Routes an API token may send its turns to: "local" (this machine) and '
        "connector endpoint names; the connector must still allow the user, and a route that "
        "requires confirmation is refused over the API.",
    )
    allowed_scopes: list[ApiScope] = Field(
        default_factory=_every_api_scope,
        description='What API tokens may be given: "chat", "embeddings", "history" (keep the '
        "token's conversations in the encrypted history).",
    )
    token_max_days: int = Field(
        default=90, ge=0, le=36_500,
        description="Longest lifetime of a new API token, in days (a token created without "
        "--expires gets it); 0 = tokens may be made that never expire.",
    )

"""Routing: which engine answers a turn, and what must happen before a request leaves.

Every decision names the policy rule that made it, so the audit record, the CLI and the GUI
can all say why. The gate is :meth:`EffectivePolicy.connector_allowed_for`: when it is closed
(connector off, restricted mode, user not named) no remote route exists for this user at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

LOCAL = "local"

BLOCKING_ENTITY_TYPES = frozenset({"PRIVATE_KEY", "CLASSIFICATION"})
"""Findings that keep a turn local even after redaction.

A private key or a classification marking says the whole text is sensitive, not just the
marked words; replacing the marking with a placeholder would still send the classified text.
The policy key ``redaction.blocking_types`` (same default) decides; this set applies only
to a policy view that does not carry that key.
"""
_BLOCKING_KEY = "redaction.blocking_types"


class ConnectorPolicy(Protocol):
    """The part of ``EffectivePolicy`` routing needs."""

    def get(self, key: str) -> Any:
        """The effective value of a dotted key."""
        ...

    def connector_allowed_for(self, user: str, groups: list[str]) -> Any:
        """The connector gate: a ``PolicyDecision``."""
        ...

    def __contains__(self, key: object) -> bool: ...


@dataclass(frozen=True)
class RouteDecision:
    """Where a turn goes and why.

    Attributes:
        route: ``"local"`` or the endpoint's name; always ``"local"`` when not allowed.
        endpoint: The endpoint's policy entry (``kind``, ``base_url``…), None for local.
        allowed: False when a remote route was requested and refused.
        rule: The policy rule that decided (``managed:connector.enabled (/etc/…)``).
        reason: A sentence a user understands.
        must_redact: Redact every message before it leaves.
        must_confirm: Ask the user before it leaves.
        kept_here: A remote route was asked for and is allowed, but what the turn carries
            (local-only documents, a classification marking) keeps it on this machine: the
            turn is answered locally and ``reason`` tells the user why.
    """

    route: str
    endpoint: dict[str, Any] | None
    allowed: bool
    rule: str
    reason: str
    must_redact: bool = False
    must_confirm: bool = False
    kept_here: bool = False

    @property
    def remote(self) -> bool:
        """Whether the request leaves the machine."""
        return self.endpoint is not None


@dataclass(frozen=True)
class RouteInfo:
    """One entry of the GUI's route picker."""

    name: str
    kind: str  # "local", "openai" or "anthropic"
    classification: str  # "local", "internal" or "external"
    models: list[str] = field(default_factory=list)
    redacted: bool = False
    confirm: bool = False


def _endpoints(policy: ConnectorPolicy) -> list[dict[str, Any]]:
    endpoints = policy.get("connector.endpoints") or []
    return [dict(e) for e in endpoints if isinstance(e, Mapping)]


def find_endpoint(policy: ConnectorPolicy, name: str) -> dict[str, Any] | None:
    """The policy entry of the endpoint called ``name``, or None."""
    for endpoint in _endpoints(policy):
        if endpoint.get("name") == name:
            return endpoint
    return None


def must_redact(policy: ConnectorPolicy, endpoint: Mapping[str, Any]) -> bool:
    """External endpoints are always redacted; internal ones when policy requires it."""
    if endpoint.get("classification") != "internal":
        return True
    return bool(policy.get("connector.require_redaction"))


def _blocking_types(policy: ConnectorPolicy) -> frozenset[str]:
    if _BLOCKING_KEY in policy:
        return frozenset(str(t) for t in policy.get(_BLOCKING_KEY) or [])
    return BLOCKING_ENTITY_TYPES


def _local(allowed: bool, rule: str, reason: str) -> RouteDecision:
    return RouteDecision(LOCAL, None, allowed, rule, reason)


def _kept_here(rule: str, reason: str) -> RouteDecision:
    return RouteDecision(LOCAL, None, False, rule, reason, kept_here=True)


# Long on purpose: the gate's checks in the order they apply, each returning its decision.
def decide_route(
    policy: ConnectorPolicy,
    *,
    requested: str | None,
    user: str,
    groups: list[str],
    redaction_counts: dict[str, int] | None = None,
    local_only_documents: bool = False,
) -> RouteDecision:
    """Decide where one turn goes.

    Args:
        policy: The effective policy.
        requested: The route the user picked (an endpoint name), or None / ``"local"``.
        user: The OS user.
        groups: The OS user's groups.
        redaction_counts: What the redactor found in the outgoing text (``counts``), if it ran.
        local_only_documents: Documents marked local-only are attached to the turn.

    Returns:
        The decision; a refused remote request comes back as ``allowed=False``, route local.
    """
    if requested in (None, "", LOCAL):
        return _local(True, "route:local", "Answered on this machine.")
    gate = policy.connector_allowed_for(user, groups)
    if not gate.allowed:
        return _local(False, gate.rule, gate.reason)
    endpoint = find_endpoint(policy, str(requested))
    if endpoint is None:
        return _local(
            False,
            "managed:connector.endpoints",
            f"There is no remote route named {requested!r} in your organization's policy.",
        )
    name = str(endpoint["name"])
    if local_only_documents:
        return _kept_here(
            "documents:local-only",
            f"The documents this question draws on are local-only, so it was answered on this "
            f"machine instead of {name}.",
        )
    blocking = sorted(set((redaction_counts or {}).keys()) & _blocking_types(policy))
    if blocking:
        what = ", ".join(t.lower().replace("_", " ") for t in blocking)
        return _kept_here(
            f"redaction:blocking:{','.join(blocking)}",
            f"The message contains {what}, which must not leave this machine even redacted.",
        )
    redact = must_redact(policy, endpoint)
    where = "outside your organization" if endpoint.get("classification") != "internal" else (
        "to your organization's server"
    )
    reason = f"Sent {where} ({name})" + (", redacted." if redact else ", not redacted.")
    return RouteDecision(
        name,
        endpoint,
        True,
        gate.rule,
        reason,
        must_redact=redact,
        must_confirm=bool(policy.get("connector.require_confirmation")),
    )


def available_routes(policy: ConnectorPolicy, user: str, groups: list[str]) -> list[RouteInfo]:
    """The routes this user may pick: local first, then every endpoint when the gate is open."""
    routes = [RouteInfo(LOCAL, LOCAL, LOCAL)]
    if not policy.connector_allowed_for(user, groups).allowed:
        return routes
    confirm = bool(policy.get("connector.require_confirmation"))
    for endpoint in _endpoints(policy):
        routes.append(
            RouteInfo(
                name=str(endpoint["name"]),
                kind=str(endpoint.get("kind", "")),
                classification=str(endpoint.get("classification", "external")),
                models=[str(m) for m in endpoint.get("models") or []],
                redacted=must_redact(policy, endpoint),
                confirm=confirm,
            )
        )
    return routes


def allowed_hosts(policy: ConnectorPolicy, user: str, groups: list[str]) -> set[str]:
    """Hosts the egress guard may let through for this user: endpoints and their proxies.

    Empty when the gate is closed, so the guard then allows loopback only.
    """
    if not policy.connector_allowed_for(user, groups).allowed:
        return set()
    hosts: set[str] = set()
    for endpoint in _endpoints(policy):
        for url in (endpoint.get("base_url"), endpoint.get("proxy")):
            if not url:
                continue
            try:
                host = urlsplit(str(url)).hostname
            except ValueError:
                continue
            if host:
                hosts.add(host.lower())
    return hosts

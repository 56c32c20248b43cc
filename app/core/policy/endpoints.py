"""Plain http:// to a connector endpoint: refused off this machine for external endpoints.

A request to an ``external`` endpoint carries redacted text and the API key across networks
the organization does not control; over plain http anyone on the way reads and changes both.
Such an endpoint is refused unless the administrator sets ``allow_insecure_http: true`` on it,
which ``policy validate`` and ``policy show`` warn about and every call over it records in
the audit log (``connector.insecure_http``). Loopback never leaves the machine (a local
TLS-terminating proxy, a test server), so it is allowed. An ``internal`` endpoint over plain
http stays allowed (on-prem servers often are) but is warned about.

This module works on plain data, so the schema, the loader and the chat service share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from app.core.hosts import is_loopback
from app.core.policy.errors import PolicyIssue

OVERRIDE_KEY = "allow_insecure_http"


def plain_http_off_machine(base_url: str) -> bool:
    """True when ``base_url`` is plain http:// to a host other than this machine."""
    try:
        parts = urlsplit(base_url.strip())
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() == "http" and bool(host) and not is_loopback(host or "")


def external_http_problem(
    name: str, base_url: str, classification: str, allow_insecure_http: bool
) -> str | None:
    """Why an endpoint must be refused for plain http, or None.

    Args:
        name: The endpoint's name, for the message.
        base_url: Its base URL.
        classification: ``internal`` or ``external``.
        allow_insecure_http: The administrator's explicit override.
    """
    if classification != "external" or allow_insecure_http:
        return None
    if not plain_http_off_machine(base_url):
        return None
    return (
        f"the external endpoint {name!r} uses plain http:// ({base_url}): requests and the "
        "API key would cross the network unencrypted. Use an https:// URL, or, only if the "
        f"traffic is protected another way, set \"{OVERRIDE_KEY}\": true on this endpoint "
        "(every call over it is then audited)"
    )


def insecure_http_override(endpoint: Mapping[str, Any] | None) -> bool:
    """True when calls to this endpoint go off the machine over plain http by override.

    The chat service records ``connector.insecure_http`` for each call where this is true.
    """
    if not endpoint:
        return False
    return (
        endpoint.get("classification") == "external"
        and endpoint.get(OVERRIDE_KEY) is True
        and plain_http_off_machine(str(endpoint.get("base_url", "")))
    )


def endpoint_warnings(endpoints: Any, source: str) -> list[PolicyIssue]:
    """Warnings about valid endpoints that send requests unencrypted off this machine.

    Args:
        endpoints: The validated ``connector.endpoints`` value (None when the source has none).
        source: Where it came from, for the warnings.
    """
    warnings: list[PolicyIssue] = []
    if not isinstance(endpoints, list):
        return warnings
    for index, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, Mapping):
            continue
        path = f"$.connector.endpoints[{index}]"
        name = endpoint.get("name")
        url = str(endpoint.get("base_url", ""))
        if insecure_http_override(endpoint):
            reason = (
                f"the external endpoint {name!r} is allowed over plain http:// by "
                f"{OVERRIDE_KEY} ({url}): requests and the API key cross the network "
                "unencrypted, and every call is audited; use https:// when you can"
            )
        elif endpoint.get("classification") == "internal" and plain_http_off_machine(url):
            reason = (
                f"the internal endpoint {name!r} uses plain http:// ({url}): requests travel "
                "unencrypted inside your network; use https:// when you can"
            )
        else:
            continue
        warnings.append(PolicyIssue(source, path, reason, "connector.endpoints"))
    return warnings

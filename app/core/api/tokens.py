"""API tokens: what one may do, how long it lives, and the rules policy puts on both.

A token is ``enclave-`` and 43 characters of a 256-bit random secret. It is shown once, when
it is made; the history keeps its SHA-256 only (``app.core.store.api_tokens``). Each token
names its scopes (``chat``, ``embeddings``, ``history``) and one route (``local`` or a
connector endpoint); policy decides which of them tokens may have (``api.allowed_scopes``,
``api.allowed_routes``) and how long they may live (``api.token_max_days``). The same checks
run again on every request, so a policy that narrows later narrows every token at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.errors import EnclaveError, ExitCode
from app.core.routing import LOCAL

PREFIX = "enclave-"
SCOPES = ("chat", "embeddings", "history")
DEFAULT_SCOPES = ("chat",)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNIT_S = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DAY_S = 86_400


class TokenRequestInvalid(EnclaveError):
    """A token cannot be made as asked (a bad name, scope or lifetime)."""

    exit_code = ExitCode.USAGE


class TokenNotAllowed(EnclaveError):
    """Policy does not let tokens have that route, scope or lifetime."""

    exit_code = ExitCode.REFUSED


@dataclass(frozen=True)
class Grant:
    """What an authenticated request may do: its token's name, scopes and route."""

    name: str
    scopes: tuple[str, ...]
    route: str

    @property
    def keeps_history(self) -> bool:
        """Whether the token's conversations are saved in the history."""
        return "history" in self.scopes


def new_secret() -> str:
    """A fresh token."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 the history keeps of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def check_name(name: str) -> str:
    """A token name: letters, digits, ``.``, ``_``, ``-``; 1 to 64 characters.

    Raises:
        TokenRequestInvalid: anything else (names go into audit records and titles).
    """
    if not _NAME.fullmatch(name):
        raise TokenRequestInvalid(
            f"{name!r:.70} is not a usable token name.",
            "Use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    return name


def parse_scopes(text: str | None) -> tuple[str, ...]:
    """``chat,embeddings`` as a tuple in canonical order; ``None``: chat only.

    Raises:
        TokenRequestInvalid: an unknown or empty scope.
    """
    if text is None:
        return DEFAULT_SCOPES
    asked = {s.strip() for s in text.split(",")}
    unknown = sorted(asked - set(SCOPES))
    if unknown or not asked:
        raise TokenRequestInvalid(f"Unknown scope {', '.join(unknown) or '(none)'}.",
                                  f"Scopes are {', '.join(SCOPES)} (comma-separated).")
    return tuple(s for s in SCOPES if s in asked)


def parse_expiry(text: str | None, now: float) -> float | None:
    """When a token made at ``now`` expires: ``30d``, ``12h``, ``2w``, ``2027-01-31``, ``never``.

    ``None`` (not given) is returned as it is: the policy's longest lifetime applies.

    Raises:
        TokenRequestInvalid: an unreadable or past time.
    """
    if text is None:
        return None
    value = text.strip().lower()
    if value == "never":
        return float("inf")
    match = _DURATION.fullmatch(value)
    if match:
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds <= 0:
            raise TokenRequestInvalid("A token must live for some time.", "E.g. --expires 30d")
        return now + seconds
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise TokenRequestInvalid(
            f"{text!r:.40} is not a lifetime or a date.",
            "Use e.g. 30d, 12h, 2w, 90m, a date like 2027-01-31, or never.") from None
    moment = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    if moment <= now:
        raise TokenRequestInvalid(f"{text} is in the past.", "Give a later date.")
    return moment


def _rule(policy: Any, key: str) -> str:
    entry = policy.entry(key)
    return f"{entry.level}:{key} ({entry.source})"


def check_grant(policy: Any, scopes: tuple[str, ...], route: str, user: str,
                groups: list[str]) -> None:
    """Refuse scopes and a route policy does not allow API tokens now.

    A remote route must also be open to this user (the connector gate) and must not require
    confirmation: nobody is there to confirm what an API client sends.

    Raises:
        TokenNotAllowed: naming the rule.
    """
    from app.core.routing import decide_route

    allowed_scopes = set(policy.get("api.allowed_scopes") or ())
    refused = [s for s in scopes if s not in allowed_scopes]
    if refused:
        raise TokenNotAllowed(
            f"API tokens may not have the scope {', '.join(refused)} here.",
            f"Rule: {_rule(policy, 'api.allowed_scopes')}.")
    if route not in (policy.get("api.allowed_routes") or ()):
        raise TokenNotAllowed(
            f"API tokens may not use the route {route!r} here.",
            f"Rule: {_rule(policy, 'api.allowed_routes')}.")
    if route == LOCAL:
        return
    decision = decide_route(policy, requested=route, user=user, groups=groups)
    if not decision.allowed:
        raise TokenNotAllowed(f"The route {route!r} is not open to you: {decision.reason}",
                              f"Rule: {decision.rule}.")
    if decision.must_confirm:
        raise TokenNotAllowed(
            f"The route {route!r} requires confirming each request, which an API client "
            "cannot do.", "Rule: connector.require_confirmation. Use the route local.")


def bounded_expiry(policy: Any, asked: float | None, now: float) -> float | None:
    """The expiry a new token gets: what was asked, within ``api.token_max_days``.

    Raises:
        TokenNotAllowed: a longer lifetime than policy allows.
    """
    days = int(policy.get("api.token_max_days") or 0)
    if days <= 0:
        return None if asked in (None, float("inf")) else asked
    longest = now + days * _DAY_S
    if asked is None:
        return longest
    if asked > longest:
        raise TokenNotAllowed(
            f"API tokens may live at most {days} days here.",
            f"Rule: {_rule(policy, 'api.token_max_days')}. Give --expires {days}d or less.")
    return asked


@dataclass(frozen=True)
class NewToken:
    """A token just made: the secret (shown once) and what was stored."""

    secret: str
    record: Any  # ApiTokenRecord


# Long on purpose: the checks, the store and the audit record of one token, in that order.
def create_token(
    store: Any,
    policy: Any,
    name: str,
    *,
    scopes: str | None = None,
    route: str | None = None,
    expires: str | None = None,
    user: str = "",
    groups: list[str] | None = None,
    audit: Any = None,
    now: float | None = None,
) -> NewToken:
    """Make a token; only its hash is stored. The audit record names it, never shows it.

    Raises:
        TokenRequestInvalid: a bad name, scope or lifetime.
        TokenNotAllowed: policy refuses the scope, the route or the lifetime.
        ApiTokenExists: an active token has that name.
    """
    from app.core.audit import events

    now = time.time() if now is None else now
    check_name(name)
    wanted = parse_scopes(scopes)
    route = route or LOCAL
    check_grant(policy, wanted, route, user, list(groups or []))
    expiry = bounded_expiry(policy, parse_expiry(expires, now), now)
    secret = new_secret()
    record = store.add_api_token(name, token_hash(secret), scopes=wanted, route=route,
                                 created=now, expires=expiry)
    if audit is not None:
        audit.record(events.API_TOKEN_CREATED,
                     detail={"token": name, "scopes": list(wanted), "route": route,
                             "expires": expiry},
                     outcome={"status": "ok", "reason": "token created"})
    return NewToken(secret, record)


def revoke_token(store: Any, name: str, *, audit: Any = None) -> Any:
    """Revoke a token by name; it is refused from the next request on.

    Raises:
        ApiTokenNotFound: no token has that name.
    """
    from app.core.audit import events

    record = store.revoke_api_token(name, time.time())
    if audit is not None:
        audit.record(events.API_TOKEN_REVOKED, detail={"token": name},
                     outcome={"status": "ok", "reason": "token revoked"})
    return record


def describe(record: Any, now: float) -> dict[str, Any]:
    """A token as ``enclave api tokens list --json`` shows it (never the secret)."""

    def stamp(t: float | None) -> str | None:
        if t is None:
            return None
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {"name": record.name, "state": record.state(now), "scopes": list(record.scopes),
            "route": record.route, "created": stamp(record.created),
            "expires": stamp(record.expires), "revoked": stamp(record.revoked),
            "last_used": stamp(record.last_used)}

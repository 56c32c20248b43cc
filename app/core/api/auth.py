"""Who is asking: a bearer token checked against the history, before any body is read.

Each request's token is hashed and looked up in the encrypted history, every time: a token
revoked or expired a moment ago (by ``enclave api tokens revoke`` in another process) is
refused on its next request. Failures are counted per client address over a sliding minute
and each one is answered more slowly than the last (50 ms doubling to 2 s), so guessing is
slow while a client with a good token never waits; the audit log records the 1st, 10th,
100th… failure in a row, not every one, so a flood cannot flood it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from app.core.api.errors import ApiError, forbidden, unauthorized
from app.core.api.tokens import PREFIX, Grant, token_hash
from app.core.audit import events
from app.core.errors import EnclaveError

log = logging.getLogger(__name__)

WINDOW_S = 60.0
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0
_MAX_TOKEN_CHARS = 256
_TOUCH_EVERY_S = 60.0
_MAX_TRACKED_PEERS = 4096


class Authenticator:
    """Checks bearer tokens and route scopes; slows down whoever keeps failing.

    Args:
        store: The history (``api_token_by_hash``, ``touch_api_token``).
        policy: The effective policy (``api.allowed_scopes``, ``api.allowed_routes``).
        audit: Where failed sign-ins are recorded; ``None`` when the log is off.
        clock: Seconds since the epoch (tests move it).
    """

    def __init__(self, store: Any, policy: Any, audit: Any, clock: Any = time.time) -> None:
        self.store = store
        self.policy = policy
        self.audit = audit
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, header: str | None, scope: str) -> Grant:
        """The grant of a valid token with ``scope`` (``""``: any valid token).

        Raises:
            ApiError: 401 for a missing, unknown, revoked or expired token; 403 when the
                token (or policy, now) does not allow ``scope`` or its route.
        """
        token = _bearer(header)
        now = self.clock()
        try:
            record = self.store.api_token_by_hash(token_hash(token))
        except EnclaveError as exc:
            log.warning("API token lookup failed: %s", exc.message)
            raise ApiError(503, "Tokens cannot be checked right now.", kind="server_error") \
                from None
        if record is None:
            raise unauthorized("The API token is not valid.")
        state = record.state(now)
        if state != "active":
            raise unauthorized(f"The API token {record.name!r} is {state}.")
        self._touch(record.name, now)
        grant = Grant(record.name, record.scopes, record.route)
        self._check_scope(grant, scope)
        return grant

    def _check_scope(self, grant: Grant, scope: str) -> None:
        if not scope:  # listing models needs a valid token, nothing more
            return
        if scope not in grant.scopes:
            raise forbidden(f"The token {grant.name!r} does not have the scope {scope!r}.",
                            "scope_missing")
        if scope not in (self.policy.get("api.allowed_scopes") or ()):
            raise forbidden(f"Policy does not allow API tokens the scope {scope!r} here.",
                            "scope_not_allowed")
        if grant.route not in (self.policy.get("api.allowed_routes") or ()):
            raise forbidden(f"Policy does not allow API tokens the route {grant.route!r} here.",
                            "route_not_allowed")

    def _touch(self, name: str, now: float) -> None:
        with self._lock:
            if now - self._touched.get(name, 0.0) < _TOUCH_EVERY_S:
                return
            self._touched[name] = now
        try:
            self.store.touch_api_token(name, now)
        except EnclaveError as exc:  # "last used" is a courtesy, never a reason to refuse
            log.warning("could not note the use of API token %s: %s", name, exc.message)

    def failed(self, peer: str) -> float:
        """Count a failure from ``peer``; returns how long to wait before answering it."""
        now = time.monotonic()
        with self._lock:
            if peer not in self._failures and len(self._failures) >= _MAX_TRACKED_PEERS:
                self._failures.pop(next(iter(self._failures)))
            recent = self._failures.setdefault(peer, deque())
            while recent and now - recent[0] > WINDOW_S:
                recent.popleft()
            recent.append(now)
            count = len(recent)
        if self.audit is not None and _is_power_of_ten(count):
            try:
                self.audit.record(events.API_AUTH_FAILED, detail={"peer": peer, "failures": count},
                                  outcome={"status": "denied", "reason": "invalid API token"})
            except EnclaveError as exc:
                log.warning("could not audit failed API sign-ins: %s", exc.message)
        return min(MAX_DELAY_S, FIRST_DELAY_S * float(2 ** min(count - 1, 16)))


def _bearer(header: str | None) -> str:
    if not header:
        raise unauthorized("No API token: send 'Authorization: Bearer <token>' (make one with "
                           "`enclave api tokens create NAME`).")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("The Authorization header must be 'Bearer <token>'.")
    if not token.startswith(PREFIX) or len(token) > _MAX_TOKEN_CHARS:
        raise unauthorized("The API token is not valid.")
    return token


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1

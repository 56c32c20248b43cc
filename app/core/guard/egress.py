"""The network egress guard: nothing leaves the process unless the policy allows the host.

Python audit hooks (PEP 578) see every ``socket.connect``, ``socket.getaddrinfo``,
``socket.sendto`` and ``socket.sendmsg`` — and every other resolver entry point
(``gethostbyname``/``_ex``, ``gethostbyaddr``, ``getnameinfo``) — before the operating
system does, in every library
(httpx, urllib, third-party SDKs). The hook allows loopback, Unix sockets and the hosts the
current policy names, and raises :class:`EgressBlocked` for anything else, so a blocked
connection never sends a packet.

Audit hooks cannot be removed once added, so the hook is installed once per process and reads
its rules from a module-level holder: :func:`install_egress_guard` swaps the rules,
:func:`disable_egress_guard` lets everything through again (tests; never the app).

``EgressBlocked`` is also a ``PermissionError``: HTTP libraries treat an ``OSError`` at
connect time as a failed connection and fail cleanly, and the remote engine finds the
``EgressBlocked`` in the exception's cause chain to say what really happened.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import EnclaveError, ExitCode
from app.core.hosts import is_loopback

AllowedHosts = Callable[[], set[str]]
OnBlock = Callable[[str, int | None], None]

_MAX_RESOLVED = 4096


class EgressBlocked(EnclaveError, PermissionError):
    """A network connection to a host the policy does not allow was refused."""

    exit_code = ExitCode.REFUSED

    def __init__(self, host: str, port: int | None) -> None:
        where = f"{host}:{port}" if port is not None else host
        super().__init__(
            f"Enclave blocked a network connection to {where}: the policy does not allow it.",
            "Nothing was sent. If this host should be reachable, ask your administrator.",
        )
        self.host = host
        self.port = port


@dataclass
class _Rules:
    allowed_hosts: AllowedHosts
    on_block: OnBlock
    # Address -> the allowed name it resolved from, so the connect that follows passes (and
    # stops passing once that name is no longer allowed).
    resolved: dict[str, str] = field(default_factory=dict)


_state_lock = threading.Lock()
_rules: _Rules | None = None
_installed = False
_local = threading.local()


def _normalize(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")


def _host_port(address: Any) -> tuple[str, int | None] | None:
    """Host and port of a socket address; None for AF_UNIX paths and other families."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str | bytes):
        host = address[0].decode() if isinstance(address[0], bytes) else address[0]
        port = address[1] if isinstance(address[1], int) else None
        return host, port
    return None


def _remember(rules: _Rules, host: str) -> None:
    """Resolve an allowed name now, so its addresses pass the connect check that follows."""
    if len(rules.resolved) > _MAX_RESOLVED:
        rules.resolved.clear()
    _local.resolving = True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return  # the caller's own lookup fails the same way and reports it
    finally:
        _local.resolving = False
    for info in infos:
        rules.resolved[_normalize(str(info[4][0]))] = host


def _check(rules: _Rules, host: str, port: int | None, *, lookup: bool) -> None:
    name = _normalize(host)
    if not name or is_loopback(name):
        return
    try:
        allowed = {_normalize(h) for h in rules.allowed_hosts()}
    except Exception:  # noqa: BLE001 - a broken rule provider fails closed
        allowed = set()
    if name in allowed:
        if lookup:
            _remember(rules, name)
        return
    if rules.resolved.get(name) in allowed:
        return
    # The audit sink's failure must not open the gate.
    with contextlib.suppress(Exception):
        rules.on_block(name, port)
    raise EgressBlocked(name, port)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not event.startswith("socket."):
        return
    rules = _rules
    if rules is None or getattr(_local, "resolving", False):
        return
    if event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("idna", "replace")
        if isinstance(host, str):
            port = args[1] if isinstance(args[1], int) else None
            _check(rules, host, port, lookup=True)
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        # Every other resolver entry point (gethostbyname_ex included): a name lookup or a
        # reverse lookup is a DNS query, and DNS carries data out too.
        if args and isinstance(args[0], (str, bytes)):
            host = args[0].decode("idna", "replace") if isinstance(args[0], bytes) else args[0]
            _check(rules, host, None, lookup=event == "socket.gethostbyname")
    elif event == "socket.getnameinfo":
        found = _host_port(args[0]) if args else None
        if found is not None:
            _check(rules, found[0], found[1], lookup=False)
    elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        # args: (socket, address); sendmsg on a connected socket passes address None.
        found = _host_port(args[1]) if len(args) > 1 else None
        if found is not None:
            _check(rules, found[0], found[1], lookup=False)


def install_egress_guard(allowed_hosts: AllowedHosts, on_block: OnBlock) -> None:
    """Guard every network connection of this process from now on.

    Calling it again replaces the rules (the hook itself is added only once).

    Args:
        allowed_hosts: Returns the host names and addresses that may be reached now; asked at
            every connection, so a policy reload takes effect at once.
        on_block: Called with the host and port of each refused connection (the app records
            an ``egress.blocked`` audit event). It must not raise.
    """
    global _rules, _installed
    with _state_lock:
        _rules = _Rules(allowed_hosts, on_block)
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


def disable_egress_guard() -> None:
    """Let every connection through again (the hook stays, with no rules)."""
    global _rules
    with _state_lock:
        _rules = None


def egress_guard_active() -> bool:
    """Whether connections are being checked now."""
    return _rules is not None

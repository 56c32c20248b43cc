"""The egress guard refuses non-allowed connections before any packet is sent."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from app.core.guard.egress import (
    EgressBlocked,
    disable_egress_guard,
    egress_guard_active,
    install_egress_guard,
)

# TEST-NET-3 (RFC 5737): documentation only, never routed. Should the guard fail, the connect
# times out after 1 s instead of reaching anything.
UNROUTABLE = "203.0.113.1"


@pytest.fixture
def guard() -> Iterator[tuple[set[str], list[tuple[str, int | None]]]]:
    allowed: set[str] = set()
    blocked: list[tuple[str, int | None]] = []
    install_egress_guard(lambda: set(allowed), lambda host, port: blocked.append((host, port)))
    try:
        yield allowed, blocked
    finally:
        disable_egress_guard()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server
    finally:
        server.close()


def test_connect_to_a_non_allowed_host_is_refused_before_any_packet(
    guard: tuple[set[str], list[tuple[str, int | None]]], listener: socket.socket
) -> None:
    _, blocked = guard
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        started = time.perf_counter()
        with pytest.raises(EgressBlocked) as caught:
            sock.connect((UNROUTABLE, 9))
        assert time.perf_counter() - started < 0.5  # refused at once, not timed out
        # The socket never started a connection: it can still connect somewhere else, which
        # a socket with a SYN in flight (EALREADY) or a failed connect could not.
        sock.connect(listener.getsockname())
    assert isinstance(caught.value, PermissionError)
    assert UNROUTABLE in caught.value.message
    assert blocked == [(UNROUTABLE, 9)]


def test_lookups_of_non_allowed_hosts_are_refused(
    guard: tuple[set[str], list[tuple[str, int | None]]],
) -> None:
    _, blocked = guard
    # AI_NUMERICHOST: even a failing guard could not send a DNS query here.
    with pytest.raises(EgressBlocked):
        socket.getaddrinfo(UNROUTABLE, 443, flags=socket.AI_NUMERICHOST)
    assert blocked == [(UNROUTABLE, 443)]


def test_udp_sendto_a_non_allowed_host_is_refused(
    guard: tuple[set[str], list[tuple[str, int | None]]],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(EgressBlocked):
        sock.sendto(b"x", (UNROUTABLE, 514))


def test_loopback_and_unix_sockets_still_work(
    guard: tuple[set[str], list[tuple[str, int | None]]], listener: socket.socket, tmp_path
) -> None:
    _, blocked = guard
    port = listener.getsockname()[1]
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection((host, port), timeout=1):
            pass
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        with unix:
            unix.connect(path)
    assert blocked == []


def test_allowed_hosts_can_change_without_reinstalling(
    guard: tuple[set[str], list[tuple[str, int | None]]],
) -> None:
    allowed, blocked = guard
    allowed.add(UNROUTABLE)
    # Allowed now: the numeric lookup passes (no traffic: AI_NUMERICHOST).
    assert socket.getaddrinfo(UNROUTABLE, 443, flags=socket.AI_NUMERICHOST)
    allowed.clear()
    with pytest.raises(EgressBlocked):
        socket.getaddrinfo(UNROUTABLE, 443, flags=socket.AI_NUMERICHOST)
    assert len(blocked) == 1


def test_disabled_guard_checks_nothing() -> None:
    install_egress_guard(set, lambda host, port: None)
    assert egress_guard_active()
    disable_egress_guard()
    assert not egress_guard_active()
    assert socket.getaddrinfo(UNROUTABLE, 443, flags=socket.AI_NUMERICHOST)


@pytest.mark.parametrize("lookup", [
    lambda: socket.gethostbyname("exfil-data.example"),
    lambda: socket.gethostbyname_ex("exfil-data.example"),
    lambda: socket.gethostbyaddr(UNROUTABLE),
    lambda: socket.getnameinfo((UNROUTABLE, 443), socket.NI_NUMERICHOST),
    lambda: socket.getaddrinfo("exfil-data.example", None),
], ids=["gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo", "getaddrinfo"])
def test_every_resolver_entry_point_is_guarded(
    guard: tuple[set[str], list[tuple[str, int | None]]], lookup: object,
) -> None:
    # A DNS query is a way out too: each resolver call is refused before it is made.
    _, blocked = guard
    started = time.perf_counter()
    with pytest.raises(EgressBlocked):
        lookup()  # type: ignore[operator]
    assert time.perf_counter() - started < 0.5  # refused, not resolved or timed out
    assert blocked and blocked[0][0] in ("exfil-data.example", UNROUTABLE)


def test_local_names_still_resolve(
    guard: tuple[set[str], list[tuple[str, int | None]]],
) -> None:
    assert socket.gethostbyname("127.0.0.1") == "127.0.0.1"
    assert socket.gethostbyname("localhost").startswith("127.")

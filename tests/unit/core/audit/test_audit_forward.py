"""Forwarding to a real syslog listener on 127.0.0.1, including while it is down."""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.audit import AuditLog, events
from app.core.audit.forward import ForwardTarget
from app.core.paths import AppPaths

HEADER = re.compile(
    rb"^<(\d+)>1 (\S+Z) (\S+) enclave (\d+) (\S+) "
    rb"\[enclave@32473 seq=\"(\d+)\" hash=\"([0-9a-f]{64})\"\] "
)
BOM = b"\xef\xbb\xbf"


class Collector:
    """A real RFC 5424 / RFC 6587 (octet counting) TCP listener."""

    def __init__(self, port: int) -> None:
        self.messages: list[bytes] = []
        self.cond = threading.Condition()
        collector = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    length = b""
                    while not length.endswith(b" "):
                        ch = self.rfile.read(1)
                        if not ch:
                            return
                        length += ch
                    msg = self.rfile.read(int(length))
                    with collector.cond:
                        collector.messages.append(msg)
                        collector.cond.notify_all()

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[bytes]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= n, timeout)
            return list(self.messages)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def collectors() -> Iterator[list[Collector]]:
    started: list[Collector] = []
    yield started
    for c in started:
        c.stop()


def parse(msg: bytes) -> tuple[re.Match[bytes], dict[str, object]]:
    match = HEADER.match(msg)
    assert match, msg[:120]
    body = msg[match.end() :]
    assert body.startswith(BOM)
    return match, json.loads(body[len(BOM) :])


def test_records_queued_while_the_collector_is_down_arrive_in_order(
    paths: AppPaths, key: bytes, port: int, collectors: list[Collector]
) -> None:
    log = AuditLog(paths, hmac_key=key, forward=f"tcp://127.0.0.1:{port}")
    for i in range(5):
        log.record(events.MODEL_CALL, tokens_in=i, outcome={"status": "ok"})
    time.sleep(0.3)  # the sender has tried and failed by now
    collectors.append(Collector(port))
    for i in range(5, 10):
        log.record(events.POLICY_REFUSED, tokens_in=i, outcome={"status": "denied", "reason": "r"})
    received = collectors[0].wait_for(10)
    log.close()  # adds the closing checkpoint, sent before the thread stops
    received = collectors[0].wait_for(11)
    file_lines = log.path.read_text(encoding="utf-8").splitlines()
    assert len(received) == len(file_lines) == 11
    for msg, line in zip(received, file_lines, strict=True):
        match, rec = parse(msg)
        assert rec == json.loads(line)
        assert int(match.group(6)) == rec["seq"]
        assert match.group(5).decode() == rec["event"]
    pris = [int(parse(m)[0].group(1)) for m in received]
    assert pris[0] == 13 * 8 + 6
    assert pris[5] == 13 * 8 + 4


def test_the_backlog_survives_a_restart(
    paths: AppPaths, key: bytes, port: int, collectors: list[Collector]
) -> None:
    first = AuditLog(paths, hmac_key=key, forward=f"tcp://127.0.0.1:{port}")
    for _ in range(3):
        first.record(events.MODEL_CALL)
    first.close()  # collector still down: nothing sent, all of it left on disk
    collectors.append(Collector(port))
    second = AuditLog(paths, hmac_key=key, forward=f"tcp://127.0.0.1:{port}")
    second.record(events.MODEL_CALL)
    received = collectors[0].wait_for(5)
    second.close()
    received = collectors[0].wait_for(6)
    assert [parse(m)[1]["seq"] for m in received] == [1, 2, 3, 4, 5, 6]


def test_udp_forwarding_sends_one_datagram_per_record(paths: AppPaths, key: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        log = AuditLog(paths, hmac_key=key, forward=f"udp://127.0.0.1:{port}")
        log.record(events.EGRESS_BLOCKED, detail={"host": "example.com"})
        log.record(events.MODEL_CALL)
        log.close()
        got = [parse(sock.recv(65535))[1] for _ in range(3)]
    assert [r["seq"] for r in got] == [1, 2, 3]
    assert got[0]["event"] == events.EGRESS_BLOCKED


@pytest.mark.parametrize("url", ["http://h:1", "tcp://:514", "udp://h:99999", "h:514"])
def test_only_udp_or_tcp_to_a_named_host_is_accepted(url: str) -> None:
    from app.core.audit import AuditConfigError

    with pytest.raises(AuditConfigError):
        ForwardTarget.parse(url)


def test_no_forwarder_thread_is_left_running(paths: AppPaths, key: bytes, port: int) -> None:
    log = AuditLog(paths, hmac_key=key, forward=f"tcp://127.0.0.1:{port}")
    log.record(events.MODEL_CALL)
    log.close()
    assert not any(t.name == "audit-forwarder" for t in threading.enumerate())
    assert json.loads(Path(log.path.with_name("forward.pos")).read_text())["offset"] == 0

"""Forwarding audit records to the site's collector as RFC 5424 syslog.

The log file itself is the queue: a small position file remembers the byte offset just after
the last record the collector accepted, and a background thread sends everything after it in
file order. While the collector is down nothing is lost and nothing is reordered; when it
comes back the backlog goes first. Delivery is at least once: a crash between sending and
saving the position resends a few records, which a collector can drop by ``seq`` and ``hash``.

Only the configured host is ever contacted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.core.audit.errors import AuditConfigError

try:  # POSIX only; on Windows one forwarder per log is not enforced.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# RFC 5424 facility 13, "log audit".
_FACILITY = 13
_SEVERITY = {"ok": 6, "denied": 4, "error": 3}
# Private enterprise number reserved for documentation (RFC 5612).
_SD_ID = "enclave@32473"
_BOM = b"\xef\xbb\xbf"
_BATCH = 500
_UDP_MAX = 65_000


@dataclass(frozen=True)
class ForwardTarget:
    """Where records go: ``udp://host:port`` or ``tcp://host:port``."""

    scheme: str
    host: str
    port: int

    @staticmethod
    def parse(url: str) -> ForwardTarget:
        """Parse a forwarding address.

        Raises:
            AuditConfigError: if the address is not ``udp://`` or ``tcp://`` with a host.
        """
        parts = urlsplit(url)
        try:
            port = parts.port or 514
        except ValueError:
            port = -1
        if parts.scheme not in ("udp", "tcp") or not parts.hostname or not 0 < port < 65536:
            raise AuditConfigError(
                f"The audit forwarding address {url!r} is not usable.",
                "Use udp://HOST:PORT or tcp://HOST:PORT in the audit policy.",
            )
        return ForwardTarget(parts.scheme, parts.hostname, port)


def _ascii_token(value: object, limit: int) -> str:
    text = "".join(c for c in str(value) if 33 <= ord(c) <= 126)[:limit]
    return text or "-"


def syslog_message(line: bytes, *, procid: int) -> bytes:
    """Wrap one log line (a JSON record) as an RFC 5424 message; the MSG is the line itself."""
    line = line.rstrip(b"\n")
    record = json.loads(line)
    outcome = record.get("outcome") or {}
    status = outcome.get("status", "ok") if isinstance(outcome, dict) else "ok"
    pri = _FACILITY * 8 + _SEVERITY.get(str(status), 6)
    actor = record.get("actor") or {}
    host = _ascii_token(actor.get("host") if isinstance(actor, dict) else None, 255)
    msgid = _ascii_token(record.get("event"), 32)
    seq = _ascii_token(record.get("seq"), 20)
    digest = _ascii_token(record.get("hash"), 64)
    ts = _ascii_token(record.get("ts"), 40)
    header = (
        f'<{pri}>1 {ts} {host} enclave {procid} {msgid} [{_SD_ID} seq="{seq}" hash="{digest}"] '
    )
    return header.encode("ascii") + _BOM + line


def octet_frame(message: bytes) -> bytes:
    """Frame a message for syslog over TCP by octet counting (RFC 6587)."""
    return str(len(message)).encode("ascii") + b" " + message


class SyslogForwarder:
    """Background sender of new log lines to one collector.

    Args:
        url: ``udp://host:port`` or ``tcp://host:port``.
        log_path: The audit log to tail.
        retry_max_s: Longest wait between reconnection attempts.
    """

    def __init__(self, url: str, log_path: Path, *, retry_max_s: float = 2.0) -> None:
        self.target = ForwardTarget.parse(url)
        self._log_path = log_path
        self._pos_path = log_path.with_name("forward.pos")
        self._lock_path = log_path.with_name("forward.lock")
        self._retry_max = retry_max_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._lock_fd: int | None = None
        self._offset = 0
        self._drain_s = 2.0
        self._thread = threading.Thread(target=self._run, name="audit-forwarder", daemon=True)
        self.last_error: str | None = None

    def start(self) -> None:
        """Load the saved position (or start at the current end of the log) and start sending."""
        self._offset = self._load_offset()
        self._thread.start()

    def notify(self) -> None:
        """Tell the sender that a record was appended."""
        self._wake.set()

    def close(self, drain_s: float = 2.0) -> None:
        """Send the backlog (within ``drain_s``; one try if the collector is down), then stop."""
        if not self._thread.is_alive():
            return
        self._drain_s = drain_s
        self._stop.set()
        self._wake.set()
        self._thread.join(drain_s + 5.0)

    # -- position -------------------------------------------------------------------------

    def _load_offset(self) -> int:
        try:
            data = json.loads(self._pos_path.read_text(encoding="utf-8"))
            offset = int(data["offset"])
        except FileNotFoundError:
            # Forwarding starts now; earlier history is exported, not replayed.
            offset = self._log_size()
            self._save_offset(offset)
            return offset
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("audit forward position unreadable; starting at the end of the log")
            return self._log_size()
        if offset > self._log_size():
            log.warning("audit log is shorter than the forward position; starting at its end")
            return self._log_size()
        return offset

    def _save_offset(self, offset: int) -> None:
        tmp = self._pos_path.with_name(self._pos_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps({"offset": offset}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._pos_path)

    def _log_size(self) -> int:
        try:
            return self._log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _pending(self) -> list[tuple[bytes, int]]:
        """Return up to one batch of complete lines after the offset, with their end offsets."""
        try:
            with self._log_path.open("rb") as fh:
                fh.seek(self._offset)
                out: list[tuple[bytes, int]] = []
                pos = self._offset
                for line in fh:
                    if not line.endswith(b"\n"):
                        break  # being written; take it next time
                    pos += len(line)
                    out.append((line, pos))
                    if len(out) >= _BATCH:
                        break
                return out
        except FileNotFoundError:
            return []

    # -- sending --------------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        t = self.target
        if t.scheme == "tcp":
            return socket.create_connection((t.host, t.port), timeout=3.0)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(3.0)
        sock.connect((t.host, t.port))
        return sock

    def _peer_closed(self, sock: socket.socket) -> bool:
        """Notice a collector that hung up, before writing into a dead connection."""
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send_batch(self, batch: list[tuple[bytes, int]]) -> None:
        if self._sock is not None and self.target.scheme == "tcp" and self._peer_closed(self._sock):
            self._drop_socket()
        if self._sock is None:
            self._sock = self._connect()
        for line, end in batch:
            try:
                message = syslog_message(line, procid=os.getpid())
            except ValueError:
                log.warning(
                    "audit forward: skipping an unparseable line at offset %d", self._offset
                )
                self._offset = end
                continue
            if self.target.scheme == "tcp":
                self._sock.sendall(octet_frame(message))
            elif len(message) > _UDP_MAX:
                log.warning("audit forward: record too large for UDP, skipped")
            else:
                self._sock.send(message)
            self._offset = end
        self._save_offset(self._offset)

    def _drop_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _acquire_single_sender(self) -> bool:
        """Make sure only one process forwards a given log (the others would duplicate)."""
        if fcntl is None:
            return True
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _run(self) -> None:
        backoff = 0.05
        drain_until: float | None = None
        try:
            while not self._acquire_single_sender():
                # Another process forwards this log; take over if it exits.
                if self._stop.wait(1.0):
                    return
            while True:
                if self._stop.is_set() and drain_until is None:
                    drain_until = time.monotonic() + self._drain_s
                if drain_until is not None and time.monotonic() >= drain_until:
                    return
                self._wake.clear()
                batch = self._pending()
                if not batch:
                    if self._stop.is_set():
                        return
                    self._wake.wait(1.0)
                    continue
                try:
                    self._send_batch(batch)
                    backoff = 0.05
                    self.last_error = None
                except OSError as exc:
                    self._drop_socket()
                    if self.last_error is None:
                        log.warning("audit collector %s unreachable: %s", self.target.host, exc)
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    if drain_until is not None:
                        return  # closing: one last try, then the backlog waits on disk
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._retry_max)
        finally:
            self._drop_socket()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the flock

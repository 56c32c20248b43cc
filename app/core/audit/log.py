"""The audit log writer: one hash-chained JSON line per event, durable before it returns.

Layout under ``data_dir/audit/``: ``audit.jsonl`` (the records), ``audit.head`` (the latest
checkpoint and the latest record, signed, so a shortened log is noticed), and when forwarding
``forward.pos`` (how far the collector got). Several processes of one user may write the same
log: an advisory file lock serialises appends and each writer re-reads the tail when the file
grew behind its back, so the chain never forks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from app.core.audit import content, events
from app.core.audit.chain import GENESIS_HASH, Anchor, HeadFile, checkpoint_mac, head_path, seal
from app.core.audit.chain import read_last_line as _read_last_line
from app.core.audit.errors import AuditUnavailable
from app.core.audit.forward import SyslogForwarder
from app.core.audit.identity import actor, content_key, signing_key
from app.core.paths import AppPaths

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer per log by convention
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_EVERY = 100


def audit_log_path(paths: AppPaths) -> Path:
    """Return where the audit log of ``paths`` lives."""
    return paths.data_dir / "audit" / "audit.jsonl"


def utc_timestamp() -> str:
    """Return now as RFC 3339 UTC with microseconds, e.g. ``2025-01-02T03:04:05.678901Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_text(text: str) -> str:
    """Return the SHA-256 hex digest of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditLog:
    """Append-only, hash-chained audit log of one user.

    Args:
        paths: The user's directories; the log lives in ``data_dir/audit``.
        log_content: Keep prompt and answer text (encrypted); otherwise only their SHA-256.
        required: Policy demands auditing: a record that cannot be written raises
            ``AuditUnavailable`` instead of degrading.
        forward: ``udp://host:port`` or ``tcp://host:port`` of the site's syslog collector.
        policy_sha256: Digest of the effective policy, stamped on every record.
        hmac_key: Checkpoint signing key when the OS keyring cannot supply one.
        checkpoint_every: Records between signed checkpoints.

    Raises:
        AuditConfigError: if ``forward`` is malformed, or content logging is asked for but
            the text cannot be encrypted.
    """

    def __init__(
        self,
        paths: AppPaths,
        *,
        log_content: bool = False,
        required: bool = False,
        forward: str | None = None,
        policy_sha256: str = "",
        hmac_key: bytes | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        self.path = audit_log_path(paths)
        self.head_path = head_path(self.path)
        self.required = required
        self.log_content = log_content
        self.policy_sha256 = policy_sha256
        self.degraded = False
        self.degraded_reason: str | None = None
        self.session = secrets.token_hex(16)
        self._paths = paths
        self._every = max(1, checkpoint_every)
        self._lock = threading.Lock()
        self._key = signing_key(hmac_key)
        self._content_key: bytes | None = None
        if log_content:
            self._content_key = content_key(hmac_key)
            content.check_available(self._content_key)
        self._actor: dict[str, Any] | None = None
        self._fd: int | None = None
        self._head_fd: int | None = None
        self._size = -1  # file size after our last append; -1 forces a re-read of the tail
        self._seq = 0
        self._head = GENESIS_HASH
        self._checkpoint: Anchor | None = None
        self._closed = False
        self._forwarder = SyslogForwarder(forward, self.path) if forward else None
        with self._lock:
            try:
                self._open()
            except OSError as exc:
                if required:
                    # Raised by the first record() instead: the app can still start and say why.
                    log.warning("audit log cannot be opened: %s", exc)
                else:
                    self._failed("cannot open the audit log", exc)
        if self._forwarder is not None:
            self._forwarder.start()

    # -- public ---------------------------------------------------------------------------

    @property
    def signed(self) -> bool:
        """Whether checkpoints carry an HMAC signature."""
        return self._key is not None

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record and make it durable (written and fsynced) before returning.

        Args:
            event: One of the names in ``app.core.audit.events``.
            **fields: Optional record fields (``model``, ``route``, ``outcome``, …) and the
                texts ``prompt`` / ``answer``, which become ``prompt_sha256`` /
                ``answer_sha256`` and, only when content logging is on, encrypted ``content``.

        Returns:
            The record as written (or as it would have been, when the log is degraded).

        Raises:
            AuditUnavailable: if the write failed and auditing is required.
            ValueError: for an unknown event or outcome status.
            TypeError: for an unknown field.
        """
        if event not in events.ALL_EVENTS or event == events.AUDIT_CHECKPOINT:
            raise ValueError(f"unknown audit event {event!r}")
        texts = {name: fields.pop(name) for name in events.TEXT_FIELDS if name in fields}
        unknown = set(fields) - events.OPTIONAL_FIELDS
        if unknown:
            raise TypeError(f"unknown audit record fields: {sorted(unknown)}")
        outcome = fields.get("outcome")
        if outcome is not None and (
            not isinstance(outcome, dict) or outcome.get("status") not in events.OUTCOME_STATUSES
        ):
            raise ValueError("outcome must be {'status': 'ok'|'denied'|'error', 'reason': ...}")
        for name, text in texts.items():
            fields.setdefault(f"{name}_sha256", sha256_text(str(text)))
        if self.policy_sha256:
            policy = dict(fields.get("policy") or {})
            policy.setdefault("sha256", self.policy_sha256)
            fields["policy"] = policy
        with self._lock:
            if self._closed:
                raise ValueError("audit log is closed")
            rec = self._append(event, fields, {k: str(v) for k, v in texts.items()})
            if self._fd is not None and self._seq - self._checkpoint_seq() >= self._every:
                self._append(events.AUDIT_CHECKPOINT, {}, {}, checkpoint=True)
        if self._forwarder is not None:
            self._forwarder.notify()
        return rec

    def close(self) -> None:
        """Write a final checkpoint, stop forwarding and close the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fd is not None:
                try:
                    self._resync()
                    if self._seq > self._checkpoint_seq():
                        self._append(events.AUDIT_CHECKPOINT, {}, {}, checkpoint=True)
                except (OSError, AuditUnavailable) as exc:
                    log.warning("audit log: final checkpoint not written: %s", exc)
                os.close(self._fd)
                self._fd = None
            if self._head_fd is not None:
                os.close(self._head_fd)
                self._head_fd = None
        if self._forwarder is not None:
            self._forwarder.notify()
            self._forwarder.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals (called with self._lock held) ------------------------------------------

    def _checkpoint_seq(self) -> int:
        # The checkpoint record follows the records it covers.
        return 0 if self._checkpoint is None else self._checkpoint.count + 1

    def _open(self) -> None:
        audit_dir = self.path.parent
        audit_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._actor is None:
            self._actor = actor(self._paths.data_dir)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = -1
        self._locked(self._resync)

    def _locked(self, fn: Any) -> Any:
        assert self._fd is not None
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            return fn()
        finally:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _resync(self) -> None:
        """Catch up with records another process appended (or load the tail at open)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        line, end = _read_last_line(self._fd, size)
        if end < size:
            # A write torn by a crash: it was never acknowledged, so it is not a record.
            log.warning("audit log: dropping %d bytes of an incomplete last line", size - end)
            os.ftruncate(self._fd, end)
            size = end
        if line:
            try:
                last = json.loads(line)
                seq, digest = int(last["seq"]), str(last["hash"])
            except (ValueError, KeyError, TypeError) as exc:
                raise OSError(
                    "the audit log's last line is damaged; run `enclave audit verify`"
                ) from exc
            self._seq, self._head = seq, digest
        else:
            self._seq, self._head = 0, GENESIS_HASH
        try:
            head: HeadFile | None = HeadFile.read(self.head_path)
        except (OSError, ValueError):
            head = None
        if head is not None and (
            head.last.count > self._seq
            or (head.last.count == self._seq and head.last.head != self._head)
        ):
            # Records were cut from the end. Appending would overwrite the evidence in the
            # head file, so the log stays as found until an administrator looks at it.
            self._size = -1
            raise OSError(
                f"the audit log ends at record {self._seq} but audit.head vouches for record "
                f"{head.last.count}: it was cut; run `enclave audit verify`"
            )
        self._checkpoint = None if head is None else head.checkpoint
        if self._checkpoint is not None and self._checkpoint.count >= self._seq:
            self._checkpoint = None  # the head file describes another log
        self._size = size

    # Long on purpose: one critical section (chain, checkpoint, fsync, head file) whose order
    # is the log's crash-safety argument; split, the order would be harder to check.
    def _append(
        self,
        event: str,
        fields: dict[str, Any],
        texts: dict[str, str],
        *,
        checkpoint: bool = False,
    ) -> dict[str, Any]:
        if self._fd is None:
            try:
                self._open()
            except OSError as exc:
                self._failed("cannot open the audit log", exc)
        rec: dict[str, Any] = {
            "seq": self._seq + 1,
            "ts": utc_timestamp(),
            "event": event,
            "actor": self._actor or {},
            "session": self.session,
            **fields,
        }
        if self._fd is None:
            rec["prev_hash"] = self._head
            rec["hash"] = seal(rec)[0]
            return rec

        def write() -> None:
            assert self._fd is not None
            self._resync()
            rec["seq"] = self._seq + 1
            new_checkpoint = self._checkpoint
            if checkpoint:
                mac = checkpoint_mac(self._key, self._seq, self._head) if self._key else None
                rec["detail"] = {
                    "count": self._seq,
                    "head": self._head,
                    "signed": mac is not None,
                    "hmac": mac,
                }
                new_checkpoint = Anchor(self._seq, self._head, mac)
            if texts and self._content_key is not None:
                aad = content.content_aad(self.session, rec["seq"])
                rec["content"] = content.seal_content(self._content_key, aad, texts)
            rec["prev_hash"] = self._head
            digest, line = seal(rec)
            rec["hash"] = digest
            data = (line + "\n").encode("utf-8")
            start = self._size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)  # leave no half record behind
                self._size = -1
                raise
            self._seq, self._head, self._size = rec["seq"], digest, start + len(data)
            self._checkpoint = new_checkpoint
            last_mac = checkpoint_mac(self._key, self._seq, digest) if self._key else None
            head = HeadFile(new_checkpoint, Anchor(self._seq, digest, last_mac))
            try:
                if checkpoint:
                    head.write(self.head_path)
                else:
                    head.overwrite(self._head_fd_now())
            except OSError as exc:
                # The record itself is durable; only tail-truncation evidence is weaker.
                self._degrade(f"audit head file not updated: {exc}")

        try:
            self._locked(write)
        except OSError as exc:
            self._failed("cannot write the audit record", exc)
            rec.setdefault("prev_hash", self._head)
            rec.setdefault("hash", seal({k: v for k, v in rec.items() if k != "hash"})[0])
        return rec

    def _head_fd_now(self) -> int:
        """Return an fd on the current head file (another writer may have replaced it)."""
        try:
            current = os.stat(self.head_path).st_ino
        except FileNotFoundError:
            current = -1
        if self._head_fd is not None and os.fstat(self._head_fd).st_ino != current:
            os.close(self._head_fd)
            self._head_fd = None
        if self._head_fd is None:
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._head_fd

    def _degrade(self, reason: str) -> None:
        if not self.degraded:
            log.warning("audit log degraded: %s", reason)
        self.degraded = True
        self.degraded_reason = reason

    def _failed(self, what: str, exc: OSError) -> None:
        reason = f"{what} at {self.path}: {exc.strerror or exc}"
        if self._fd is not None and self._size == -1:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.required:
            raise AuditUnavailable(
                f"The audit record could not be written ({exc.strerror or exc}).",
                "Policy requires an audit record for this action. Free disk space or fix the "
                f"permissions of {self.path.parent}, then try again.",
            ) from exc
        self._degrade(reason)

"""The hash chain: canonical form, record hashes, checkpoint signatures and the head file.

A record's ``hash`` is SHA-256 over its canonical JSON (sorted keys, no spaces, UTF-8) with
``prev_hash`` included and ``hash`` left out. Each line of the log is exactly that canonical
text with ``"hash"`` appended as the last member, so a verifier can hash the line's bytes
without re-encoding and any collector can re-derive the hash from the parsed object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS_HASH = "0" * 64
# Two anchors take about 400 bytes; a fixed size lets the file be rewritten in place.
HEAD_FILE_SIZE = 1024

# Every line ends with this suffix followed by 64 hex digits and '"}'.
HASH_SUFFIX = ',"hash":"'
_TAIL_LEN = len(HASH_SUFFIX) + 64 + 2

_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(obj: dict[str, Any]) -> str:
    """Return the canonical JSON text of ``obj`` (the form that is hashed)."""
    return _encoder.encode(obj)


def record_hash(record: dict[str, Any]) -> str:
    """Return the hash of ``record``, ignoring any ``hash`` member it already has."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def seal(record: dict[str, Any]) -> tuple[str, str]:
    """Hash a record that has ``prev_hash`` but no ``hash`` yet.

    Returns:
        The hash, and the full log line (without the newline).
    """
    body = canonical(record)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return digest, f'{body[:-1]}{HASH_SUFFIX}{digest}"}}'


def split_line(line: bytes) -> tuple[bytes, str] | None:
    """Split a log line into its hashed body and its stated hash, without parsing JSON.

    Returns:
        ``(body, hash)``, or ``None`` when the line is not in the form ``seal`` writes.
    """
    line = line.rstrip(b"\r\n")
    if len(line) <= _TAIL_LEN or not line.endswith(b'"}'):
        return None
    start = len(line) - _TAIL_LEN
    if line[start : start + len(HASH_SUFFIX)] != HASH_SUFFIX.encode():
        return None
    stated = line[start + len(HASH_SUFFIX) : -2].decode("ascii", "replace")
    return line[:start] + b"}", stated


def checkpoint_mac(key: bytes, count: int, head: str) -> str:
    """Sign "the first ``count`` records end in ``head``" with HMAC-SHA256."""
    message = f"enclave-audit-checkpoint:v1:{count}:{head}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mac_matches(key: bytes, count: int, head: str, mac: str) -> bool:
    """Check a checkpoint signature in constant time."""
    return hmac.compare_digest(checkpoint_mac(key, count, head), mac)


@dataclass(frozen=True)
class Anchor:
    """A signed statement of how long the chain was and where it ended."""

    count: int
    head: str
    mac: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form stored in the head file."""
        return {"count": self.count, "head": self.head, "hmac": self.mac, "signed": bool(self.mac)}

    @staticmethod
    def from_json(data: Any) -> Anchor:
        """Parse the JSON form; raises ``ValueError`` when it is malformed."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        count, head, mac = data.get("count"), data.get("head"), data.get("hmac")
        if not isinstance(count, int) or not isinstance(head, str) or len(head) != 64:
            raise ValueError("count or head missing")
        if mac is not None and not isinstance(mac, str):
            raise ValueError("hmac is not text")
        return Anchor(count, head, mac)


@dataclass(frozen=True)
class HeadFile:
    """The side file beside the log: the latest checkpoint and the latest record.

    It lets a verifier notice records cut from the end of the log, which the chain alone
    cannot show (a shorter chain is still a valid chain).
    """

    checkpoint: Anchor | None
    last: Anchor

    def encode(self) -> bytes:
        """Return the file content, padded to a fixed size so it can be overwritten in place."""
        data: dict[str, Any] = {"v": 1, "last": self.last.to_json()}
        if self.checkpoint is not None:
            data["checkpoint"] = self.checkpoint.to_json()
        text = canonical(data).encode("utf-8")
        return text.ljust(HEAD_FILE_SIZE - 1) + b"\n"

    def write(self, path: Path) -> None:
        """Replace the head file atomically (write a temporary file, fsync, rename)."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, self.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def overwrite(self, fd: int) -> None:
        """Overwrite an open head file in place, without waiting for the disk.

        Used for the per-record anchor: one page rewritten in place is never seen half
        written, and after a power cut it can only be behind the log, never ahead of it
        (which verification tolerates). Checkpoints use ``write``.
        """
        os.pwrite(fd, self.encode(), 0)

    @staticmethod
    def read(path: Path) -> HeadFile:
        """Read the head file.

        Raises:
            OSError: if it cannot be read (``FileNotFoundError`` when absent).
            ValueError: if it is not in the expected form.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        cp = data.get("checkpoint")
        return HeadFile(
            checkpoint=None if cp is None else Anchor.from_json(cp),
            last=Anchor.from_json(data.get("last")),
        )


def head_path(log_path: Path) -> Path:
    """Return the head file that belongs to ``log_path``."""
    return log_path.with_name("audit.head")


def read_last_line(fd: int, size: int) -> tuple[bytes, int]:
    """Return the last complete line of an open file and the offset just after it.

    Bytes after the last newline (a write torn by a crash) are not part of any line; the
    returned offset tells the caller where complete data ends.
    """
    if size == 0:
        return b"", 0
    block = 8192
    end = size
    buf = b""
    pos = size
    while pos > 0:
        step = min(block, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        last_nl = buf.rfind(b"\n")
        if last_nl == -1:
            continue
        end = pos + last_nl + 1
        prev_nl = buf.rfind(b"\n", 0, last_nl)
        if prev_nl != -1:
            return buf[prev_nl + 1 : last_nl + 1], end
        if pos == 0:
            return buf[: last_nl + 1], end
        block *= 2
    return b"", 0

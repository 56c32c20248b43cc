"""Checking an audit log: every hash, the chain, the checkpoints and the head file.

The first problem found is located by sequence number and named:

- ``unparseable``: a line is not a record;
- ``edited``: a record's content no longer matches its hash, or a record was rewritten with a
  fresh hash so the next record no longer chains to it;
- ``removed``: a sequence number is missing;
- ``reordered``: records appear out of order;
- ``truncated``: the log ends before the last record the head file vouches for;
- ``bad checkpoint``: a checkpoint or the head file disagrees with the chain or its signature
  is wrong (what a rewrite of the whole chain without the key looks like).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.core.audit import events
from app.core.audit.chain import GENESIS_HASH, HeadFile, head_path, mac_matches, record_hash
from app.core.audit.chain import split_line as _split_line

Problem = Literal["edited", "removed", "reordered", "truncated", "bad checkpoint", "unparseable"]


@dataclass(frozen=True)
class VerifyReport:
    """The result of ``verify``.

    Attributes:
        ok: No problem found.
        records: Lines in the log.
        first_bad_seq: Sequence number of the first bad (or missing) record.
        problem: What is wrong with it.
        detail: One sentence for a person.
        warnings: Things that weaken the guarantee without being tampering (unsigned
            checkpoints, no key to check signatures, no head file).
        checkpoints: Checkpoints seen.
    """

    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: Problem | None = None
    detail: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    checkpoints: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``enclave audit verify --json``)."""
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


class _Failure(Exception):
    def __init__(self, seq: int, problem: Problem, detail: str) -> None:
        super().__init__(detail)
        self.seq, self.problem, self.detail = seq, problem, detail


def _later_seqs(lines: list[bytes], start: int) -> set[int]:
    seqs: set[int] = set()
    for raw in lines[start:]:
        try:
            value = json.loads(raw).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int):
            seqs.add(value)
    return seqs


def _check_checkpoint(
    rec: dict[str, Any], seq: int, prev: str, key: bytes | None, warnings: list[str]
) -> None:
    detail = rec.get("detail")
    if not isinstance(detail, dict) or detail.get("count") != seq - 1 or detail.get("head") != prev:
        raise _Failure(
            seq, "bad checkpoint", f"checkpoint {seq} does not describe the records before it"
        )
    mac = detail.get("hmac")
    if not detail.get("signed") or not isinstance(mac, str):
        warnings.append("checkpoints are unsigned (no key was available when they were written)")
    elif key is None:
        warnings.append("checkpoint signatures were not checked (no key given)")
    elif not mac_matches(key, seq - 1, prev, mac):
        raise _Failure(
            seq,
            "bad checkpoint",
            f"checkpoint {seq} has a wrong signature: the chain was rewritten",
        )


def _check_chain(
    lines: list[bytes], key: bytes | None, warnings: list[str]
) -> tuple[list[str], int]:
    """Walk the records; returns their hashes (index = seq - 1) and the checkpoint count."""
    hashes: list[str] = []
    prev = GENESIS_HASH
    checkpoints = 0
    sha256 = hashlib.sha256
    loads = json.loads
    checkpoint_event = events.AUDIT_CHECKPOINT
    for index, raw in enumerate(lines):
        expected = index + 1
        try:
            rec = loads(raw)
            seq, stated, stated_prev = rec["seq"], rec["hash"], rec["prev_hash"]
        except (ValueError, KeyError, TypeError):
            raise _Failure(
                expected, "unparseable", f"line {expected} is not an audit record"
            ) from None
        parts = _split_line(raw)
        # Fast path: the line is the canonical body plus the hash; re-encode only if not.
        if (parts is None or sha256(parts[0]).hexdigest() != stated) and record_hash(rec) != stated:
            raise _Failure(expected, "edited", f"record {expected} does not match its hash")
        if seq != expected:
            if not isinstance(seq, int) or seq < expected or expected in _later_seqs(lines, index):
                raise _Failure(
                    expected, "reordered", f"record {expected} is out of place (found {seq} there)"
                )
            missing = (
                f"record {expected} is"
                if seq == expected + 1
                else f"records {expected}..{seq - 1} are"
            )
            raise _Failure(expected, "removed", f"{missing} missing (found {seq} next)")
        if stated_prev != prev:
            raise _Failure(
                expected - 1,
                "edited",
                f"record {expected - 1} was changed: record {expected} no longer chains to it",
            )
        if rec.get("event") == checkpoint_event:
            checkpoints += 1
            _check_checkpoint(rec, seq, prev, key, warnings)
        hashes.append(stated)
        prev = stated
    return hashes, checkpoints


def _check_head(
    hp: Path, hashes: list[str], key: bytes | None, require_head: bool, warnings: list[str]
) -> None:
    count = len(hashes)
    try:
        # A head file created but never filled (a crash before the first anchor) is absent.
        if hp.exists() and not hp.read_bytes().strip():
            hp_missing: Exception = FileNotFoundError(str(hp))
            raise hp_missing
        head = HeadFile.read(hp)
    except FileNotFoundError:
        if count and require_head:
            raise _Failure(
                count + 1,
                "truncated",
                f"{hp.name} is missing: records cut from the end would not show",
            ) from None
        if count:
            warnings.append(f"{hp.name} not found: a cut at the end of the log cannot be ruled out")
        return
    except (OSError, ValueError) as exc:
        raise _Failure(count, "bad checkpoint", f"{hp.name} is unreadable ({exc})") from None
    anchors = [("last record", head.last, head.last.count)]
    if head.checkpoint is not None:
        anchors.append(("latest checkpoint", head.checkpoint, head.checkpoint.count + 1))
    for name, anchor, needs in anchors:
        if anchor.mac is None and key is not None:
            warnings.append(f"{hp.name}: the {name} is unsigned")
        if (
            anchor.mac is not None
            and key is not None
            and not mac_matches(key, anchor.count, anchor.head, anchor.mac)
        ):
            raise _Failure(count, "bad checkpoint", f"{hp.name}: the {name} has a wrong signature")
        if needs > count:
            raise _Failure(
                count + 1,
                "truncated",
                f"the log ends at record {count} but {hp.name} vouches for record {needs}",
            )
        if anchor.count and hashes[anchor.count - 1] != anchor.head:
            raise _Failure(
                anchor.count, "bad checkpoint", f"record {anchor.count} differs from {hp.name}"
            )
    if count - head.last.count > 1:
        warnings.append(
            f"{count - head.last.count} records after record {head.last.count} are not covered "
            f"by {hp.name}"
        )


def _deleted_log(path: Path) -> VerifyReport | None:
    """The report for a log that is gone while its head file still vouches for records."""
    hp = head_path(path)
    try:
        head = HeadFile.read(hp)
    except (OSError, ValueError):
        # No head (nothing audited) — or one that is unreadable, which verify of the
        # log would report; with no log either there is nothing to compare.
        return None if not hp.exists() or not hp.read_bytes().strip() else VerifyReport(
            ok=False, records=0, first_bad_seq=1, problem="truncated",
            detail=f"{path.name} is missing and {hp.name} is unreadable: the log was deleted",
        )
    if head.last.count <= 0:
        return None
    return VerifyReport(
        ok=False, records=0, first_bad_seq=1, problem="truncated",
        detail=f"{path.name} is missing but {hp.name} vouches for {head.last.count} records: "
        "the log was deleted",
    )


def verify(path: Path, hmac_key: bytes | None, *, require_head: bool = True) -> VerifyReport:
    """Verify the audit log at ``path`` (``audit.jsonl``; ``audit.head`` is read beside it).

    Args:
        path: The log file.
        hmac_key: Key that signed the checkpoints; ``None`` checks everything but signatures
            (and says so in ``warnings``).
        require_head: Treat a missing head file as a cut log (off for a copy of the log alone).

    Returns:
        The report; ``ok`` is false at the first problem.

    Raises:
        OSError: if the log cannot be read (``FileNotFoundError`` when neither it nor its
            head file exists: nothing was ever audited).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        deleted = _deleted_log(path)
        if deleted is None:
            raise
        return deleted
    lines = data.splitlines()
    # A torn last write (no newline) was never acknowledged; the writer drops it too.
    if lines and not data.endswith(b"\n"):
        lines.pop()
    while lines and not lines[-1].strip():
        lines.pop()
    warnings: list[str] = []
    checkpoints = 0
    try:
        hashes, checkpoints = _check_chain(lines, hmac_key, warnings)
        _check_head(head_path(Path(path)), hashes, hmac_key, require_head, warnings)
    except _Failure as failure:
        return VerifyReport(
            ok=False,
            records=len(lines),
            first_bad_seq=failure.seq,
            problem=failure.problem,
            detail=failure.detail,
            warnings=tuple(dict.fromkeys(warnings)),
            checkpoints=checkpoints,
        )
    return VerifyReport(
        ok=True,
        records=len(lines),
        detail=f"{len(lines)} records, {checkpoints} checkpoints, chain intact",
        warnings=tuple(dict.fromkeys(warnings)),
        checkpoints=checkpoints,
    )

"""Per-call usage rows read from the audit log.

Every model call leaves a ``model.call`` record (see ``app.core.chat``); when policy requires
auditing, a call also leaves a first record whose ``outcome.reason`` is ``"started"``, which is
skipped so a call is counted once. ``policy.refused`` records become refusal rows: they are
turns that policy stopped before any model ran.

The log is append-only, so reading is incremental: a per-file cache remembers how many bytes
were parsed and what they gave, and a later read parses only what was appended. A file that got
smaller or was replaced (another inode) is read again from the start. Lines that are not JSON
records are counted and skipped: usage figures must never stop the app; ``enclave audit verify``
is where damage is reported.

Decoding speed is ``(tokens_out - 1) / (latency - ttft)``: the first token arrives at
``ttft``, the remaining ones during the rest of the call. It is the formula the engines use for
the rate shown under each answer, so the two figures agree.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

MODEL_CALL = "model.call"
POLICY_REFUSED = "policy.refused"
STARTED = "started"  # outcome.reason of the record written before a required-audit call

# Below this much decoding time a rate is mostly timer noise (and a division by ~0).
MIN_DECODE_MS = 1.0


@dataclass(frozen=True)
class CallRow:
    """One model call as the usage figures see it.

    Attributes:
        ts: When the call finished (UTC).
        model_id: The model's catalog id (or the remote model's name).
        sha256: The model file's digest ("" for a remote model that has none).
        route: The route's name (``local``, an endpoint's name, …).
        classification: The route's data classification (``local``, ``external``, …).
        status: ``ok``, ``denied`` or ``error``.
        tokens_in: Prompt tokens.
        tokens_out: Answer tokens.
        ttft_ms: Time to the first token, when recorded.
        latency_ms: Time for the whole call, when recorded.
        tokens_per_s: Decoding speed, when meaningful (see the module docstring).
        cost: What the call cost (0 for a local model).
        refusal: Whether the model declined; None when the record does not say.
    """

    ts: datetime
    model_id: str
    sha256: str
    route: str
    classification: str
    status: str
    tokens_in: int
    tokens_out: int
    ttft_ms: float | None
    latency_ms: float | None
    tokens_per_s: float | None
    cost: float
    refusal: bool | None


@dataclass(frozen=True)
class PolicyRefusalRow:
    """One turn that policy refused before any model ran."""

    ts: datetime
    route: str
    classification: str
    reason: str


@dataclass(frozen=True)
class UsageRows:
    """What the audit log says about usage, in file order.

    Attributes:
        calls: One row per finished model call.
        policy_refusals: One row per ``policy.refused`` record.
        skipped_lines: Lines that could not be read as a record.
    """

    calls: tuple[CallRow, ...] = ()
    policy_refusals: tuple[PolicyRefusalRow, ...] = ()
    skipped_lines: int = 0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else 0


def _sub(rec: dict[str, Any], name: str, key: str) -> str:
    part = rec.get(name)
    value = part.get(key) if isinstance(part, dict) else None
    return value if isinstance(value, str) else ""


def parse_time(value: Any) -> datetime | None:
    """Return a record's ``ts`` as an aware datetime, or None when it is not a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def tokens_per_second(
    tokens_out: int, ttft_ms: float | None, latency_ms: float | None
) -> float | None:
    """Return the decoding speed of a call, or None when it cannot be told.

    Args:
        tokens_out: Answer tokens.
        ttft_ms: Time to the first token.
        latency_ms: Time for the whole call.

    Returns:
        ``(tokens_out - 1)`` tokens over the time after the first one; None for an answer of
        fewer than two tokens or when the timings are missing or inconsistent.
    """
    if tokens_out < 2 or ttft_ms is None or latency_ms is None:
        return None
    decode_ms = latency_ms - ttft_ms
    if decode_ms < MIN_DECODE_MS:
        return None
    return (tokens_out - 1) / (decode_ms / 1000.0)


def call_row(rec: dict[str, Any]) -> CallRow | None:
    """Turn one ``model.call`` record into a row; None for a "started" record or a bad one."""
    outcome = rec.get("outcome")
    status = outcome.get("status") if isinstance(outcome, dict) else None
    reason = outcome.get("reason") if isinstance(outcome, dict) else None
    if reason == STARTED or not isinstance(status, str):
        return None
    ts = parse_time(rec.get("ts"))
    if ts is None:
        return None
    tokens_out = _count(rec.get("tokens_out"))
    ttft, latency = _number(rec.get("ttft_ms")), _number(rec.get("latency_ms"))
    detail = rec.get("detail")
    refusal = detail.get("refusal") if isinstance(detail, dict) else None
    return CallRow(
        ts=ts,
        model_id=_sub(rec, "model", "id") or "unknown",
        sha256=_sub(rec, "model", "sha256"),
        route=_sub(rec, "route", "name") or "unknown",
        classification=_sub(rec, "route", "classification") or "unknown",
        status=status,
        tokens_in=_count(rec.get("tokens_in")),
        tokens_out=tokens_out,
        ttft_ms=ttft,
        latency_ms=latency,
        tokens_per_s=tokens_per_second(tokens_out, ttft, latency) if status == "ok" else None,
        cost=_number(rec.get("cost")) or 0.0,
        refusal=refusal if isinstance(refusal, bool) else None,
    )


def refusal_row(rec: dict[str, Any]) -> PolicyRefusalRow | None:
    """Turn one ``policy.refused`` record into a row; None when it has no timestamp."""
    ts = parse_time(rec.get("ts"))
    if ts is None:
        return None
    return PolicyRefusalRow(
        ts=ts,
        route=_sub(rec, "route", "name") or "unknown",
        classification=_sub(rec, "route", "classification") or "unknown",
        reason=_sub(rec, "outcome", "reason"),
    )


def parse_lines(lines: Iterable[bytes]) -> UsageRows:
    """Parse complete log lines (each ending in a newline) into usage rows."""
    calls: list[CallRow] = []
    refusals: list[PolicyRefusalRow] = []
    skipped = 0
    for raw in lines:
        # Most records are other events; a substring test is far cheaper than json.loads.
        if b"model.call" not in raw and b"policy.refused" not in raw:
            continue
        try:
            rec = json.loads(raw)
        except ValueError:
            skipped += 1
            continue
        if not isinstance(rec, dict):
            skipped += 1
            continue
        event = rec.get("event")
        if event == MODEL_CALL:
            row = call_row(rec)
            if row is not None:
                calls.append(row)
        elif event == POLICY_REFUSED:
            refused = refusal_row(rec)
            if refused is not None:
                refusals.append(refused)
    return UsageRows(tuple(calls), tuple(refusals), skipped)


@dataclass
class _Cached:
    inode: int
    offset: int  # bytes parsed: always the end of a complete line
    rows: UsageRows


class UsageCache:
    """Remembers what each log file gave, so a repeated read parses only the new lines.

    Safe to share between threads (the GUI reads the report in a worker thread).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, _Cached] = {}

    def read(self, path: Path) -> UsageRows:
        """Return the usage rows of the log at ``path`` (empty when there is no log yet)."""
        with self._lock:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                self._files.pop(path, None)
                return UsageRows()
            cached = self._files.get(path)
            if cached is None or cached.inode != st.st_ino or st.st_size < cached.offset:
                cached = _Cached(st.st_ino, 0, UsageRows())
            if st.st_size == cached.offset:
                return cached.rows
            offset = cached.offset

            def complete_lines(fh: BinaryIO) -> Iterator[bytes]:
                nonlocal offset
                for raw in fh:
                    if not raw.endswith(b"\n"):
                        return  # a record still being written: left for the next read
                    offset += len(raw)
                    yield raw

            with path.open("rb") as fh:
                fh.seek(offset)
                new = parse_lines(complete_lines(fh))
            rows = UsageRows(
                cached.rows.calls + new.calls,
                cached.rows.policy_refusals + new.policy_refusals,
                cached.rows.skipped_lines + new.skipped_lines,
            )
            self._files[path] = _Cached(st.st_ino, offset, rows)
            return rows

    def clear(self) -> None:
        """Forget every file."""
        with self._lock:
            self._files.clear()


_CACHE = UsageCache()


def read_usage(path: Path, cache: UsageCache | None = None) -> UsageRows:
    """Return the usage rows of the audit log at ``path``.

    Args:
        path: The audit log (``audit_log_path(paths)``).
        cache: Where to remember parsed lines; the process-wide cache by default.

    Returns:
        Every finished model call and policy refusal in the log, in file order.
    """
    return (cache or _CACHE).read(path)

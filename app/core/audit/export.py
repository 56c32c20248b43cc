"""Reading records back out: time-window selection and JSON Lines, CSV and CEF output."""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from app import __version__

FORMATS = ("jsonl", "csv", "cef")

CSV_COLUMNS = (
    "seq",
    "ts",
    "event",
    "user",
    "uid",
    "host",
    "install_id",
    "session",
    "conversation_id",
    "model_id",
    "model_sha256",
    "route_name",
    "route_classification",
    "policy_sha256",
    "policy_rule",
    "redactions",
    "prompt_sha256",
    "answer_sha256",
    "tokens_in",
    "tokens_out",
    "ttft_ms",
    "latency_ms",
    "cost",
    "outcome_status",
    "outcome_reason",
    "detail",
    "prev_hash",
    "hash",
)

_CEF_SEVERITY = {"ok": 3, "denied": 6, "error": 7}


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 date or time; a value without a zone is taken as UTC.

    Raises:
        ValueError: if ``text`` is not ISO 8601.
    """
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def record_time(record: dict[str, Any]) -> datetime:
    """Return a record's ``ts`` as an aware datetime."""
    return parse_time(str(record["ts"]))


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a log in file order, skipping lines that are not records."""
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return  # a record still being written
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if isinstance(rec, dict):
                yield rec


def select(
    records: Iterable[dict[str, Any]], since: datetime | None, until: datetime | None
) -> Iterator[dict[str, Any]]:
    """Keep records with ``since <= ts < until`` (either bound may be open)."""
    for rec in records:
        try:
            when = record_time(rec)
        except (KeyError, ValueError):
            continue
        if since is not None and when < since:
            continue
        if until is not None and when >= until:
            continue
        yield rec


def _sub(rec: dict[str, Any], name: str, key: str) -> Any:
    value = rec.get(name)
    return value.get(key) if isinstance(value, dict) else None


def csv_row(rec: dict[str, Any]) -> dict[str, Any]:
    """Flatten a record into ``CSV_COLUMNS``; nested free-form values become JSON text."""
    redactions, detail = rec.get("redactions"), rec.get("detail")
    row: dict[str, Any] = {
        "user": _sub(rec, "actor", "user"),
        "uid": _sub(rec, "actor", "uid"),
        "host": _sub(rec, "actor", "host"),
        "install_id": _sub(rec, "actor", "install_id"),
        "model_id": _sub(rec, "model", "id"),
        "model_sha256": _sub(rec, "model", "sha256"),
        "route_name": _sub(rec, "route", "name"),
        "route_classification": _sub(rec, "route", "classification"),
        "policy_sha256": _sub(rec, "policy", "sha256"),
        "policy_rule": _sub(rec, "policy", "rule"),
        "outcome_status": _sub(rec, "outcome", "status"),
        "outcome_reason": _sub(rec, "outcome", "reason"),
        "redactions": json.dumps(redactions, sort_keys=True) if redactions else None,
        "detail": json.dumps(detail, sort_keys=True, ensure_ascii=False) if detail else None,
    }
    for name in CSV_COLUMNS:
        if name not in row:
            row[name] = rec.get(name)
    return {k: "" if v is None else v for k, v in row.items()}


def _cef_header(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cef_value(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def cef_line(rec: dict[str, Any]) -> str:
    """Format a record as one ArcSight CEF line (``CEF:0|Enclave|Enclave|version|...``)."""
    status = _sub(rec, "outcome", "status") or "ok"
    event = str(rec.get("event", ""))
    ext: list[tuple[str, Any]] = []
    with contextlib.suppress(KeyError, ValueError):
        ext.append(("rt", int(record_time(rec).timestamp() * 1000)))
    ext += [
        ("externalId", rec.get("seq")),
        ("act", event),
        ("suser", _sub(rec, "actor", "user")),
        ("suid", _sub(rec, "actor", "uid")),
        ("shost", _sub(rec, "actor", "host")),
        ("outcome", status),
        ("reason", _sub(rec, "outcome", "reason")),
        ("cs1Label", "session"),
        ("cs1", rec.get("session")),
        ("cs2Label", "model"),
        ("cs2", _sub(rec, "model", "id")),
        ("cs3Label", "route"),
        ("cs3", _sub(rec, "route", "name")),
        ("cs4Label", "policyRule"),
        ("cs4", _sub(rec, "policy", "rule")),
        ("cs5Label", "conversation"),
        ("cs5", rec.get("conversation_id")),
        ("cs6Label", "recordHash"),
        ("cs6", rec.get("hash")),
        ("cn1Label", "tokensIn"),
        ("cn1", rec.get("tokens_in")),
        ("cn2Label", "tokensOut"),
        ("cn2", rec.get("tokens_out")),
        ("cn3Label", "latencyMs"),
        ("cn3", rec.get("latency_ms")),
    ]
    # Drop a label whose value is absent, then absent values.
    present = {k for k, v in ext if v is not None}
    pairs = [
        f"{k}={_cef_value(v)}"
        for k, v in ext
        if v is not None and not (k.endswith("Label") and k[:-5] not in present)
    ]
    severity = _CEF_SEVERITY.get(str(status), 3)
    header = "|".join(
        _cef_header(v) for v in ("CEF:0", "Enclave", "Enclave", __version__, event, event, severity)
    )
    return f"{header}|{' '.join(pairs)}"


def write_export(records: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> int:
    """Write ``records`` to ``out`` in ``fmt`` (``jsonl``, ``csv`` or ``cef``); returns the count.

    Raises:
        ValueError: for an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    count = 0
    writer: Any = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
    for rec in records:
        if fmt == "jsonl":
            out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        elif fmt == "csv":
            writer.writerow(csv_row(rec))
        else:
            out.write(cef_line(rec) + "\n")
        count += 1
    return count


def last_lines(path: Path, n: int) -> list[bytes]:
    """Return the last ``n`` complete lines of a log without reading it all."""
    if n <= 0:
        return []
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        block, data = 65536, b""
        while size > 0 and data.count(b"\n") <= n:
            step = min(block, size)
            size -= step
            fh.seek(size)
            data = fh.read(step) + data
    lines = [ln for ln in data.split(b"\n") if ln]
    if not data.endswith(b"\n") and lines:
        lines.pop()  # incomplete last line
    # Reading stopped after more than n newlines, so a partial first line is never among these.
    return lines[-n:]

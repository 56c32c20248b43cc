"""``enclave audit``: verify, export and follow the tamper-evident audit log."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from app.cli._common import bounded_int
from app.core.audit import AuditLog, AuditLogMissing, audit_log_path, events, verify
from app.core.audit.chain import head_path
from app.core.audit.export import (
    FORMATS,
    last_lines,
    parse_time,
    read_records,
    select,
    write_export,
)
from app.core.audit.identity import signing_key
from app.core.errors import EnclaveError, ExitCode
from app.core.paths import default_paths


class AuditArgumentError(EnclaveError):
    """A command-line value could not be understood."""

    exit_code = ExitCode.USAGE


def register(subparsers: Any) -> None:
    """Add ``enclave audit`` and its sub-commands."""
    parser = subparsers.add_parser("audit", help="verify, export and follow the audit log")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    p_verify = sub.add_parser("verify", help="check that no record was edited, removed or cut")
    p_verify.add_argument("--json", action="store_true", help="print the report as JSON")
    p_verify.set_defaults(handler=cmd_verify)

    p_export = sub.add_parser("export", help="write records in a time window")
    p_export.add_argument("--since", help="ISO 8601 start, inclusive (no zone = UTC)")
    p_export.add_argument("--until", help="ISO 8601 end, exclusive (no zone = UTC)")
    p_export.add_argument("--format", choices=FORMATS, default="jsonl", dest="fmt")
    p_export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    p_export.set_defaults(handler=cmd_export)

    p_tail = sub.add_parser("tail", help="show the latest records")
    p_tail.add_argument("-n", type=bounded_int(1, 10_000_000), default=10,
                        help="how many records (default 10)")
    p_tail.add_argument("--follow", "-f", action="store_true", help="keep printing new records")
    p_tail.add_argument("--json", action="store_true", help="print raw JSON lines")
    p_tail.set_defaults(handler=cmd_tail)


def _log_path(*, deleted_ok: bool = False) -> Path:
    path = audit_log_path(default_paths())
    # A head file without its log is a deleted log: verify reports it as tampering.
    if deleted_ok and head_path(path).exists():
        return path
    if not path.exists():
        raise AuditLogMissing(
            f"There is no audit log at {path}.",
            "Nothing has been audited for this user yet, or ENCLAVE_HOME points elsewhere.",
        )
    return path


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify the chain; exit 0 when intact, 1 with the first bad record otherwise."""
    path = _log_path(deleted_ok=True)
    key = signing_key(None, create=False)
    try:
        report = verify(path, key)
    except FileNotFoundError:  # an empty head file and no log: nothing was audited
        _log_path()
        raise
    if args.json:
        print(json.dumps({"path": str(path), **report.to_json()}, indent=2))
    elif report.ok:
        print(f"audit log OK: {report.detail} ({path})")
    else:
        print(
            f"audit log FAILED at record {report.first_bad_seq}: {report.problem} — {report.detail}"
        )
    if not args.json:
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if report.ok:
        # Only an intact log gets the note that it was checked; a damaged one stays as found.
        audit = AuditLog(default_paths())
        try:
            audit.record(
                events.AUDIT_VERIFIED,
                outcome={"status": events.OK},
                detail={"records": report.records, "warnings": len(report.warnings)},
            )
        finally:
            audit.close()
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    """Write the records between --since and --until in the chosen format."""
    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        raise AuditArgumentError(
            f"Not an ISO 8601 date or time: {exc}.", "Use e.g. 2025-01-31 or 2025-01-31T12:00Z."
        ) from exc
    path = _log_path()
    records = select(read_records(path), since, until)
    if args.output is None:
        count = write_export(records, args.fmt, sys.stdout)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            count = write_export(records, args.fmt, out)
        print(f"{count} records written to {args.output}", file=sys.stderr)
    return 0


def _summary(raw: bytes) -> str:
    try:
        rec = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    outcome = rec.get("outcome") or {}
    actor = rec.get("actor") or {}
    parts = [
        f"{rec.get('seq', '?'):>6}",
        str(rec.get("ts", "")),
        f"{rec.get('event', ''):<18}",
        str(actor.get("user", "")),
        str(outcome.get("status", "")),
    ]
    if isinstance(rec.get("model"), dict):
        parts.append(f"model={rec['model'].get('id')}")
    if outcome.get("reason"):
        parts.append(f"reason={outcome['reason']}")
    if rec.get("latency_ms") is not None:
        parts.append(f"{rec['latency_ms']}ms")
    return "  ".join(parts)


def _emit(raw: bytes, as_json: bool, out: TextIO) -> None:
    out.write((raw.decode("utf-8", "replace") if as_json else _summary(raw)) + "\n")
    out.flush()


def cmd_tail(args: argparse.Namespace) -> int:
    """Print the last N records, then (with --follow) new ones as they are written."""
    path = _log_path()
    for raw in last_lines(path, args.n):
        _emit(raw, args.json, sys.stdout)
    if not args.follow:
        return 0
    offset = path.stat().st_size
    pending = b""
    try:
        while True:
            size = path.stat().st_size
            if size < offset:  # replaced or cut: start over at its end
                offset, pending = size, b""
            if size > offset:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read(size - offset)
                offset = size
                *complete, pending = (pending + chunk).split(b"\n")
                for raw in complete:
                    if raw:
                        _emit(raw, args.json, sys.stdout)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0

"""Export formats parse with ordinary tools, and the time window is honoured."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core.audit import AuditLog, events
from app.core.audit.export import (
    CSV_COLUMNS,
    last_lines,
    parse_time,
    read_records,
    select,
    write_export,
)
from app.core.paths import AppPaths


@pytest.fixture
def log_path(paths: AppPaths, key: bytes) -> Path:
    with AuditLog(paths, hmac_key=key) as log:
        log.record(
            events.MODEL_CALL,
            model={"id": "qwen|2=5", "sha256": "a" * 64},
            route={"name": "local", "classification": "internal"},
            outcome={"status": "ok"},
            detail={"note": 'line\nbreak, comma "quote"'},
            latency_ms=12.0,
        )
        log.record(events.POLICY_REFUSED, outcome={"status": "denied", "reason": "not allowed"})
    return log.path


def export(path: Path, fmt: str) -> str:
    out = io.StringIO()
    write_export(read_records(path), fmt, out)
    return out.getvalue()


def test_csv_parses_back_with_the_csv_module(log_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(export(log_path, "csv"))))
    assert len(rows) == 3
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["model_id"] == "qwen|2=5"
    assert json.loads(rows[0]["detail"]) == {"note": 'line\nbreak, comma "quote"'}
    assert rows[1]["outcome_status"] == "denied"
    assert rows[1]["outcome_reason"] == "not allowed"


def test_cef_lines_have_the_enclave_header_and_escaped_values(log_path: Path) -> None:
    lines = export(log_path, "cef").splitlines()
    assert len(lines) == 3
    assert all(line.startswith("CEF:0|Enclave|Enclave|") for line in lines)
    first = lines[0].split("|")
    assert first[4] == first[5] == events.MODEL_CALL
    assert "cs2=qwen|2\\=5" in lines[0]
    assert "outcome=denied" in lines[1]
    assert "reason=not allowed" in lines[1]


def test_jsonl_is_the_records_themselves(log_path: Path) -> None:
    exported = [json.loads(x) for x in export(log_path, "jsonl").splitlines()]
    assert exported == list(read_records(log_path))


def test_since_and_until_select_a_window(log_path: Path) -> None:
    recs = list(read_records(log_path))
    second = parse_time(str(recs[1]["ts"]))
    assert [r["seq"] for r in select(recs, second, None)] == [2, 3]
    assert [r["seq"] for r in select(recs, None, second)] == [1]
    assert (
        list(select(recs, datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))) == []
    )


def test_a_time_without_zone_is_utc() -> None:
    assert parse_time("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_time("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=UTC)


def test_last_lines_reads_only_complete_records(log_path: Path) -> None:
    with log_path.open("ab") as fh:
        fh.write(b'{"seq":4')
    tail = last_lines(log_path, 2)
    assert [json.loads(x)["seq"] for x in tail] == [2, 3]
    assert len(last_lines(log_path, 100)) == 3

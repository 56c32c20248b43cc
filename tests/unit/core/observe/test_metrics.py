"""Per-call rows read from the real audit log: what is counted, skipped and re-read."""

from __future__ import annotations

import pytest

from app.core.audit import AuditLog, audit_log_path, events
from app.core.observe import UsageCache, read_usage
from app.core.paths import AppPaths
from tests.unit.core.observe.synthetic import SHA_B, FakeClock, record_call


def test_a_call_becomes_one_row_with_its_speed(
    app_paths: AppPaths, audit: AuditLog, cache: UsageCache
) -> None:
    record_call(audit, tokens_in=30, tokens_out=101, ttft_ms=250.0, latency_ms=1250.0, cost=0.5)
    (row,) = read_usage(audit_log_path(app_paths), cache).calls
    assert (row.model_id, row.sha256, row.route, row.classification) == (
        "qwen-small", "a" * 64, "local", "local",
    )
    assert (row.tokens_in, row.tokens_out, row.ttft_ms, row.latency_ms) == (30, 101, 250, 1250)
    # 100 tokens after the first, in the second after it: the rate the chat footer shows.
    assert row.tokens_per_s == pytest.approx(100.0)
    assert (row.status, row.refusal, row.cost) == ("ok", False, 0.5)


def test_started_records_are_skipped_so_a_call_counts_once(
    app_paths: AppPaths, audit: AuditLog, cache: UsageCache
) -> None:
    record_call(audit, started=True)
    record_call(audit)
    assert len(read_usage(audit_log_path(app_paths), cache).calls) == 1


def test_speed_is_unknown_when_it_cannot_be_measured(
    app_paths: AppPaths, audit: AuditLog, cache: UsageCache
) -> None:
    record_call(audit, tokens_out=1)  # one token: no decoding time to speak of
    record_call(audit, ttft_ms=500.0, latency_ms=500.0)  # no time after the first token
    record_call(audit, status="error")
    audit.record(events.MODEL_CALL, outcome={"status": "ok"})  # no timings, model or route
    rows = read_usage(audit_log_path(app_paths), cache).calls
    assert [r.tokens_per_s for r in rows] == [None, None, None, None]
    assert (rows[3].model_id, rows[3].route, rows[3].refusal) == ("unknown", "unknown", None)


def test_policy_refusals_and_other_events(
    app_paths: AppPaths, audit: AuditLog, cache: UsageCache
) -> None:
    audit.record(events.POLICY_REFUSED, route={"name": "openai", "classification": "external"},
                 outcome={"status": "denied", "reason": "budget spent"})
    audit.record(events.MODEL_VERIFIED, model={"id": "x", "sha256": SHA_B})
    rows = read_usage(audit_log_path(app_paths), cache)
    assert rows.calls == ()
    (refused,) = rows.policy_refusals
    assert (refused.route, refused.reason) == ("openai", "budget spent")


def test_unreadable_lines_are_counted_and_skipped(
    app_paths: AppPaths, audit: AuditLog, cache: UsageCache
) -> None:
    record_call(audit)
    path = audit_log_path(app_paths)
    with path.open("ab") as fh:
        fh.write(b'{"event": "model.call", broken\n[1, 2, "model.call"]\n')
    rows = read_usage(path, cache)
    assert (len(rows.calls), rows.skipped_lines) == (1, 2)


def test_a_repeated_read_parses_only_what_was_appended(
    app_paths: AppPaths, audit: AuditLog, cache: UsageCache, clock: FakeClock
) -> None:
    path = audit_log_path(app_paths)
    record_call(audit)
    first = read_usage(path, cache)
    assert read_usage(path, cache) is first  # same size: nothing re-read
    clock.advance(minutes=1)
    record_call(audit, model="other")
    with path.open("ab") as fh:
        fh.write(b'{"event": "model.call", "ts": "2025-')  # a record still being written
    second = read_usage(path, cache)
    assert [r.model_id for r in second.calls] == ["qwen-small", "other"]
    assert second.skipped_lines == 0  # the unfinished line waits for its newline


def test_a_replaced_log_is_read_from_the_start(
    app_paths: AppPaths, audit: AuditLog, cache: UsageCache
) -> None:
    path = audit_log_path(app_paths)
    for _ in range(3):
        record_call(audit)
    assert len(read_usage(path, cache).calls) == 3
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0])  # shorter than what was read: not the same log any more
    assert len(read_usage(path, cache).calls) == 1


def test_no_log_yet_means_no_usage(app_paths: AppPaths, cache: UsageCache) -> None:
    rows = read_usage(audit_log_path(app_paths), cache)
    assert (rows.calls, rows.policy_refusals, rows.skipped_lines) == ((), (), 0)

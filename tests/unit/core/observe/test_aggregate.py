"""Usage figures over a synthetic log written through the real audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.audit import AuditLog, events
from app.core.observe import UsageCache, percentile, usage_report
from app.core.paths import AppPaths
from tests.unit.core.observe.synthetic import NOW, SHA_B, FakeClock, record_call


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([float(v) for v in range(100, 1001, 100)], 95) == pytest.approx(955.0)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_latency_and_ttft_percentiles(
    app_paths: AppPaths, audit: AuditLog, clock: FakeClock, cache: UsageCache
) -> None:
    clock.set(NOW - timedelta(hours=1))
    for i in range(1, 11):
        record_call(audit, ttft_ms=10.0 * i, latency_ms=100.0 * i + 1000)
        clock.advance(seconds=1)
    record_call(audit, status="error", latency_ms=99_999.0)  # failed calls do not set latency
    totals = usage_report(app_paths, now=NOW, cache=cache)["windows"]["day"]["totals"]
    assert totals["latency_ms"] == {"p50": 1550.0, "p95": 1955.0}
    assert totals["ttft_ms"] == {"p50": 55.0, "p95": 95.5}
    assert totals["calls"] == 11


def test_windows_reach_back_a_day_a_week_and_thirty_days(
    app_paths: AppPaths, audit: AuditLog, clock: FakeClock, cache: UsageCache
) -> None:
    ages = {timedelta(hours=2): 3, timedelta(days=3): 2, timedelta(days=20): 4,
            timedelta(days=40): 1}
    for age, count in sorted(ages.items(), reverse=True):
        clock.set(NOW - age)
        for _ in range(count):
            record_call(audit, tokens_in=1, tokens_out=11, cost=0.25)
    clock.set(NOW + timedelta(hours=1))
    record_call(audit)  # after "now": in no window
    report = usage_report(app_paths, now=NOW, cache=cache)
    counts = {name: w["totals"]["calls"] for name, w in report["windows"].items()}
    assert counts == {"day": 3, "week": 5, "month": 9}
    week = report["windows"]["week"]["totals"]
    assert (week["tokens_in"], week["tokens_out"], week["cost"]) == (5, 55, 1.25)
    assert report["total_calls"] == 11
    daily = report["daily"]
    assert len(daily) == 30 and daily[-1]["date"] == NOW.date().isoformat()
    assert daily[-1]["calls"] == 3 and daily[-4]["calls"] == 2
    assert sum(d["calls"] for d in daily) == 9


def test_errors_refusals_and_policy_refusals_are_counted(
    app_paths: AppPaths, audit: AuditLog, clock: FakeClock, cache: UsageCache
) -> None:
    clock.set(NOW - timedelta(minutes=30))
    for i in range(8):
        record_call(audit, refusal=i < 3)
    record_call(audit, refusal=None)  # an older record that does not say: not judged
    for _ in range(2):
        record_call(audit, status="error", refusal=None)
    record_call(audit, started=True)
    for _ in range(2):
        audit.record(events.POLICY_REFUSED, route={"name": "openai", "classification": "external"},
                     outcome={"status": "denied", "reason": "not allowed"})
    day = usage_report(app_paths, now=NOW, cache=cache)["windows"]["day"]
    totals = day["totals"]
    assert (totals["calls"], totals["ok"], totals["errors"]) == (11, 9, 2)
    assert totals["error_rate"] == pytest.approx(2 / 11, abs=1e-4)
    assert (totals["refusals"], totals["refusal_rate"]) == (3, 0.375)
    assert day["policy_refusals"] == {"openai": 2}


def test_figures_per_model_and_route(
    app_paths: AppPaths, audit: AuditLog, clock: FakeClock, cache: UsageCache
) -> None:
    clock.set(NOW - timedelta(minutes=5))
    for _ in range(3):
        record_call(audit, model="qwen-small", tokens_out=201, ttft_ms=100, latency_ms=2100)
    for _ in range(2):
        record_call(audit, model="gpt-x", sha256="", route="openai", classification="external",
                    cost=0.01, tokens_out=51, ttft_ms=300, latency_ms=800)
    record_call(audit, model="qwen-small", sha256=SHA_B, route="onprem",
                classification="internal")
    groups = usage_report(app_paths, now=NOW, cache=cache)["windows"]["day"]["groups"]
    summary = {(g["model_id"], g["route"]): g for g in groups}
    assert list(summary) == [("qwen-small", "local"), ("gpt-x", "openai"),
                             ("qwen-small", "onprem")]
    local, remote = summary["qwen-small", "local"], summary["gpt-x", "openai"]
    assert (local["calls"], local["tokens_per_s_mean"], local["cost"]) == (3, 100.0, 0)
    assert (remote["calls"], remote["tokens_per_s_mean"], remote["cost"]) == (2, 100.0, 0.02)
    assert remote["classification"] == "external" and remote["sha256"] == []
    assert summary["qwen-small", "onprem"]["sha256"] == [SHA_B]


def test_an_empty_log_gives_an_empty_report(app_paths: AppPaths, cache: UsageCache) -> None:
    report = usage_report(app_paths, now=NOW, cache=cache)
    assert report["total_calls"] == 0 and report["drift"] == []
    totals = report["windows"]["month"]["totals"]
    assert totals["calls"] == 0 and totals["error_rate"] is None
    assert totals["latency_ms"] == {"p50": None, "p95": None}

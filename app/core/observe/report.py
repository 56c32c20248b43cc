"""The usage report: what ``enclave stats`` prints and the Usage view draws.

One JSON-ready dict, so the CLI, the GUI and a script reading ``enclave stats --json`` see the
same figures::

    {
      "generated_at": "2025-01-02T03:04:05Z",
      "log_path": "…/audit/audit.jsonl",
      "total_calls": 1234,            # every finished call in the log
      "skipped_lines": 0,             # lines that were not readable records
      "windows": {
        "day" | "week" | "month": {
          "since": …, "until": …,
          "totals": {aggregate},      # see app.core.observe.aggregate.aggregate
          "groups": [{model_id, route, classification, sha256: [...], **aggregate}],
          "models": [{model_id, **aggregate}],
          "policy_refusals": {route: count},
        }
      },
      "daily": [{"date": "2025-01-02", "calls": n, "errors": n, "refusals": n}],  # 30 days
      "throughput": [{"ts": …, "model_id": …, "tokens_per_s": …}],  # last month, ≤ 500
      "drift": [DriftSignal.to_json(), …],
    }
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.core.audit.log import audit_log_path
from app.core.observe.aggregate import WINDOWS, aggregate, by_model, by_model_and_route, in_window
from app.core.observe.drift import drift_signals
from app.core.observe.metrics import CallRow, UsageCache, UsageRows, read_usage
from app.core.paths import AppPaths

DAILY_DAYS = 30
THROUGHPUT_POINTS = 500  # a chart cannot show more, and the report crosses threads


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _daily(calls: list[CallRow], now: datetime) -> list[dict[str, Any]]:
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=i) for i in range(DAILY_DAYS - 1, -1, -1)]
    counts: dict[Any, Counter[str]] = {day: Counter() for day in days}
    for row in calls:
        day = row.ts.astimezone(UTC).date()
        if day in counts and row.ts <= now:
            counts[day]["calls"] += 1
            counts[day]["errors"] += row.status == "error"
            counts[day]["refusals"] += bool(row.refusal)
    return [
        {
            "date": day.isoformat(),
            "calls": counts[day]["calls"],
            "errors": counts[day]["errors"],
            "refusals": counts[day]["refusals"],
        }
        for day in days
    ]


def _throughput(calls: list[CallRow], now: datetime) -> list[dict[str, Any]]:
    points = [r for r in in_window(calls, now, WINDOWS["month"]) if r.tokens_per_s is not None]
    if len(points) > THROUGHPUT_POINTS:
        # Evenly thinned, keeping the newest: the shape over the month is what matters.
        step = len(points) / THROUGHPUT_POINTS
        points = [points[len(points) - 1 - int(i * step)] for i in range(THROUGHPUT_POINTS)][::-1]
    return [
        {"ts": _iso(r.ts), "model_id": r.model_id, "tokens_per_s": round(r.tokens_per_s or 0, 2)}
        for r in points
    ]


def build_report(rows: UsageRows, now: datetime, log_path: Path | None = None) -> dict[str, Any]:
    """Build the usage report from parsed rows.

    Args:
        rows: What the audit log holds (``read_usage``).
        now: The end of every window (aware datetime).
        log_path: Where the rows came from, for the report's reader.

    Returns:
        The JSON-ready report described in the module docstring.
    """
    calls = sorted(rows.calls, key=lambda r: r.ts)
    windows: dict[str, Any] = {}
    for name, span in WINDOWS.items():
        selected = in_window(calls, now, span)
        refused = Counter(
            r.route for r in rows.policy_refusals if now - span < r.ts <= now
        )
        windows[name] = {
            "since": _iso(now - span),
            "until": _iso(now),
            "totals": aggregate(selected),
            "groups": by_model_and_route(selected),
            "models": by_model(selected),
            "policy_refusals": dict(sorted(refused.items())),
        }
    return {
        "generated_at": _iso(now),
        "log_path": str(log_path) if log_path is not None else None,
        "total_calls": len(calls),
        "skipped_lines": rows.skipped_lines,
        "windows": windows,
        "daily": _daily(calls, now),
        "throughput": _throughput(calls, now),
        "drift": [s.to_json() for s in drift_signals(calls)],
    }


def usage_report(
    paths: AppPaths, now: datetime | None = None, cache: UsageCache | None = None
) -> dict[str, Any]:
    """Read the audit log of ``paths`` and build the usage report.

    Args:
        paths: The user's directories (the audit log lives under ``data_dir``).
        now: The end of every window; the current time by default.
        cache: Parsed-lines cache; the process-wide one by default.

    Returns:
        The JSON-ready report described in the module docstring; with no log yet, a report of
        zero calls.
    """
    path = audit_log_path(paths)
    when = now if now is not None else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return build_report(read_usage(path, cache), when, path)

"""Usage figures over a set of calls: counts, percentiles, rates and totals.

Choices, so the figures mean one thing:

* Percentiles interpolate linearly between the two nearest ranks (the definition spreadsheets
  and numpy use by default), so the p50 of ``[1, 2, 3, 4]`` is 2.5.
* Latency, time to first token and decoding speed are taken from successful calls only: a call
  that failed or was denied stops early and would make the model look faster than it is.
* The error rate is errors over all calls; the refusal rate is the model's refusals over the
  successful calls whose record says whether the answer was a refusal (older records do not).
* Windows end at ``now`` and reach back a fixed span: a day is the last 24 hours, a week the
  last 7 days, a month the last 30 days.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from app.core.observe.metrics import CallRow

WINDOWS: dict[str, timedelta] = {
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the ``q``-th percentile (0-100) of ``values``, or None when there are none.

    Args:
        values: The sample, in any order.
        q: Which percentile, from 0 to 100.

    Returns:
        The value at rank ``q/100 * (n - 1)``, interpolated linearly between neighbours.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float | None:
    """Return the arithmetic mean, or None for no values."""
    return sum(values) / len(values) if values else None


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def aggregate(calls: Iterable[CallRow]) -> dict[str, Any]:
    """Summarise a set of calls.

    Args:
        calls: The calls to summarise (one model and route, one window, or any other cut).

    Returns:
        JSON-ready figures: ``calls``, ``ok``, ``errors``, ``denied``, ``error_rate``,
        ``refusals``, ``refusal_rate``, ``latency_ms`` / ``ttft_ms`` (``p50``, ``p95``),
        ``tokens_per_s_mean``, ``tokens_in``, ``tokens_out`` and ``cost``. A rate or a
        percentile with nothing to measure is None.
    """
    # One pass: a month of a busy site is ~10^5 calls and this runs for every group.
    count = ok = errors = denied = judged = refusals = tokens_in = tokens_out = 0
    cost = 0.0
    latency: list[float] = []
    ttft: list[float] = []
    speed: list[float] = []
    for r in calls:
        count += 1
        tokens_in += r.tokens_in
        tokens_out += r.tokens_out
        cost += r.cost
        if r.status != "ok":
            errors += r.status == "error"
            denied += r.status == "denied"
            continue
        ok += 1
        if r.refusal is not None:
            judged += 1
            refusals += r.refusal
        if r.latency_ms is not None:
            latency.append(r.latency_ms)
        if r.ttft_ms is not None:
            ttft.append(r.ttft_ms)
        if r.tokens_per_s is not None:
            speed.append(r.tokens_per_s)
    return {
        "calls": count,
        "ok": ok,
        "errors": errors,
        "denied": denied,
        "error_rate": _rounded(errors / count, 4) if count else None,
        "refusals": refusals,
        "refusal_rate": _rounded(refusals / judged, 4) if judged else None,
        "latency_ms": {
            "p50": _rounded(percentile(latency, 50)),
            "p95": _rounded(percentile(latency, 95)),
        },
        "ttft_ms": {"p50": _rounded(percentile(ttft, 50)), "p95": _rounded(percentile(ttft, 95))},
        "tokens_per_s_mean": _rounded(mean(speed)),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": round(cost, 6),
    }


def in_window(calls: Sequence[CallRow], now: datetime, span: timedelta) -> list[CallRow]:
    """Return the calls with ``now - span < ts <= now``.

    Args:
        calls: Calls sorted by ``ts`` (a binary search finds the window's ends).
        now: The window's end, inclusive.
        span: How far back the window reaches (exclusive).
    """
    since = now - span
    lo = bisect.bisect_right(calls, since, key=lambda r: r.ts)
    hi = bisect.bisect_right(calls, now, key=lambda r: r.ts)
    return list(calls[lo:hi])


def by_model_and_route(calls: Iterable[CallRow]) -> list[dict[str, Any]]:
    """Aggregate per (model id, route), busiest first.

    Returns:
        One dict per group: ``model_id``, ``route``, ``classification`` (of the latest call),
        ``sha256`` (every digest seen, newest last) and the figures of ``aggregate``.
    """
    groups: dict[tuple[str, str], list[CallRow]] = {}
    for row in calls:
        groups.setdefault((row.model_id, row.route), []).append(row)
    out = []
    for (model_id, route), rows in groups.items():
        digests = list(dict.fromkeys(r.sha256 for r in rows if r.sha256))
        out.append(
            {
                "model_id": model_id,
                "route": route,
                "classification": rows[-1].classification,
                "sha256": digests,
                **aggregate(rows),
            }
        )
    out.sort(key=lambda g: (-g["calls"], g["model_id"], g["route"]))
    return out


def by_model(calls: Iterable[CallRow]) -> list[dict[str, Any]]:
    """Aggregate per model id over every route, busiest first."""
    groups: dict[str, list[CallRow]] = {}
    for row in calls:
        groups.setdefault(row.model_id, []).append(row)
    out = [{"model_id": model_id, **aggregate(rows)} for model_id, rows in groups.items()]
    out.sort(key=lambda g: (-g["calls"], g["model_id"]))
    return out

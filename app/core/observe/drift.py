"""Drift: has a model started to behave differently from how it used to?

A model file is identified by its SHA-256, so the same digest should give answers of the same
length, refuse as often and take as long, until something around it changes (a new system
prompt, a new policy, a different machine, a swapped chat template). For each digest, the most
recent successful calls are compared with the calls before them:

* **Windows.** ``recent`` is the last ``RECENT_CALLS`` (20) calls that carry the metric;
  ``baseline`` is up to ``BASELINE_CALLS`` (200) calls before those. With fewer than
  ``MIN_BASELINE`` (40) baseline calls nothing is flagged and the signal says so: twenty calls
  against a handful says nothing reliable.
* **Answer length** (``tokens_out``) **and latency** (``latency_ms``): flagged when the
  difference of the means exceeds 3 standard errors (Welch: ``sqrt(s_b²/n_b + s_r²/n_r)``)
  **and** 25 % of the baseline mean. The first condition rules out noise, the second a change
  too small for anyone to care about (with 200 calls a 5 % change can be significant).
* **Refusal rate** (the ``refusal`` flag ``ChatService`` records): flagged when a pooled
  two-proportion z-test (with Yates' continuity correction) gives ``|z| > 3`` **and** the
  rates differ by at least 10 percentage points. Both corrections are there because the
  normal approximation is poor for rare events: uncorrected, a single refusal in 20 calls
  against none in 200 gives ``z ≈ 3.2``.

Only successful calls count: an error or a cancellation cuts an answer short.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from app.core.observe.metrics import CallRow

RECENT_CALLS = 20
BASELINE_CALLS = 200
MIN_BASELINE = 40
MEAN_SHIFT_SE = 3.0
MEAN_SHIFT_RELATIVE = 0.25
REFUSAL_Z = 3.0
REFUSAL_MIN_DIFF = 0.10

METRICS = ("answer_tokens", "refusal_rate", "latency_ms")
_LABELS = {
    "answer_tokens": "answer length",
    "refusal_rate": "refusal rate",
    "latency_ms": "latency",
}


@dataclass(frozen=True)
class DriftSignal:
    """How one metric of one model moved.

    Attributes:
        sha256: The model file's digest ("" for a remote model without one).
        model_id: The model's id, as last recorded.
        metric: ``answer_tokens``, ``refusal_rate`` or ``latency_ms``.
        baseline: The metric over the baseline calls (mean or rate); None with too few calls.
        recent: The metric over the recent calls; None with too few calls.
        flagged: Whether the change passes both tests in the module docstring.
        explanation: One sentence for people, saying what changed or why nothing is judged.
        baseline_calls: How many calls formed the baseline.
        recent_calls: How many calls formed the recent sample.
        score: Standard errors (means) or z (refusals) of the change; None when not computed.
    """

    sha256: str
    model_id: str
    metric: str
    baseline: float | None
    recent: float | None
    flagged: bool
    explanation: str
    baseline_calls: int = 0
    recent_calls: int = 0
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the signal as a JSON-ready dict."""
        return asdict(self)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return m, math.sqrt(var)


def _fmt(metric: str, value: float) -> str:
    if metric == "answer_tokens":
        return f"{value:.0f} tokens"
    if metric == "latency_ms":
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    return f"{value:.0%}"


def _mean_shift(
    key: str, model_id: str, metric: str, base: Sequence[float], recent: Sequence[float]
) -> DriftSignal:
    mb, sb = _mean_sd(base)
    mr, sr = _mean_sd(recent)
    diff = mr - mb
    se = math.sqrt(sb**2 / len(base) + sr**2 / len(recent))
    score = abs(diff) / se if se > 0 else (math.inf if diff else 0.0)
    relative = abs(diff) / abs(mb) if mb else (math.inf if diff else 0.0)
    flagged = score > MEAN_SHIFT_SE and relative > MEAN_SHIFT_RELATIVE
    label = _LABELS[metric]
    change = f"{diff / mb:+.0%}" if mb else "from zero"
    if flagged:
        direction = "rose" if diff > 0 else "fell"
        explanation = (
            f"{label.capitalize()} {direction}: the last {len(recent)} calls average "
            f"{_fmt(metric, mr)} against {_fmt(metric, mb)} over the {len(base)} before "
            f"({change}, {score:.1f} standard errors)."
        )
    else:
        explanation = (
            f"{label.capitalize()} steady: {_fmt(metric, mr)} on average over the last "
            f"{len(recent)} calls against {_fmt(metric, mb)} before ({change})."
        )
    return DriftSignal(
        key, model_id, metric, round(mb, 3), round(mr, 3), flagged, explanation,
        len(base), len(recent), None if math.isinf(score) else round(score, 2),
    )


def _refusal_shift(
    key: str, model_id: str, base: Sequence[float], recent: Sequence[float]
) -> DriftSignal:
    nb, nr = len(base), len(recent)
    pb, pr = sum(base) / nb, sum(recent) / nr
    pooled = (sum(base) + sum(recent)) / (nb + nr)
    se = math.sqrt(pooled * (1 - pooled) * (1 / nb + 1 / nr))
    # Yates' continuity correction: twenty calls are few for a normal approximation, and
    # without it a stable 5 % refusal rate is flagged about once in a hundred checks.
    gap = max(0.0, abs(pr - pb) - 0.5 * (1 / nb + 1 / nr))
    z = math.copysign(gap / se, pr - pb) if se > 0 else 0.0
    flagged = abs(z) > REFUSAL_Z and abs(pr - pb) >= REFUSAL_MIN_DIFF
    if flagged:
        direction = "rose" if pr > pb else "fell"
        explanation = (
            f"Refusals {direction}: {int(sum(recent))} of the last {nr} answers ({pr:.0%}) "
            f"were refusals, against {pb:.0%} over the {nb} before (z = {z:.1f})."
        )
    else:
        explanation = (
            f"Refusal rate steady: {pr:.0%} over the last {nr} answers against {pb:.0%} before."
        )
    return DriftSignal(
        key, model_id, "refusal_rate", round(pb, 4), round(pr, 4), flagged, explanation,
        nb, nr, round(z, 2),
    )


_VALUES: dict[str, Callable[[CallRow], float | None]] = {
    "answer_tokens": lambda r: float(r.tokens_out),
    "refusal_rate": lambda r: None if r.refusal is None else float(r.refusal),
    "latency_ms": lambda r: r.latency_ms,
}


def model_drift(
    calls: Sequence[CallRow],
    *,
    recent_calls: int = RECENT_CALLS,
    baseline_calls: int = BASELINE_CALLS,
    min_baseline: int = MIN_BASELINE,
) -> list[DriftSignal]:
    """Judge every metric for the calls of one model, oldest first.

    Args:
        calls: Successful calls of one model file, in time order.
        recent_calls: Size of the recent sample.
        baseline_calls: Most calls the baseline holds.
        min_baseline: Fewest baseline calls before anything is flagged.

    Returns:
        One signal per metric in ``METRICS``.
    """
    if not calls:
        return []
    key, model_id = calls[-1].sha256, calls[-1].model_id
    out = []
    for metric in METRICS:
        # Only the newest recent + baseline values matter: walk back from the end.
        values: list[float] = []
        wanted = recent_calls + baseline_calls
        for row in reversed(calls):
            value = _VALUES[metric](row)
            if value is not None:
                values.append(value)
                if len(values) == wanted:
                    break
        values.reverse()
        needed = recent_calls + min_baseline
        if len(values) < needed:
            noun = "answers marked refusal or not" if metric == "refusal_rate" else "calls"
            out.append(
                DriftSignal(
                    key, model_id, metric, None, None, False,
                    f"Too few calls to judge {_LABELS[metric]}: {len(values)} {noun} with this "
                    f"model, {needed} needed ({recent_calls} recent, {min_baseline} before).",
                    max(0, len(values) - recent_calls), min(len(values), recent_calls),
                )
            )
            continue
        recent = values[-recent_calls:]
        base = values[-recent_calls - baseline_calls : -recent_calls]
        if metric == "refusal_rate":
            out.append(_refusal_shift(key, model_id, base, recent))
        else:
            out.append(_mean_shift(key, model_id, metric, base, recent))
    return out


def drift_signals(calls: Iterable[CallRow], **limits: int) -> list[DriftSignal]:
    """Judge drift for every model file seen in ``calls``.

    Args:
        calls: Calls in any order; only successful ones are used.
        **limits: ``recent_calls``, ``baseline_calls`` or ``min_baseline`` to override.

    Returns:
        Signals grouped by model (busiest model first), flagged metrics of a model first.
    """
    groups: dict[str, list[CallRow]] = {}
    for row in calls:
        if row.status == "ok":
            # A remote model has no file digest: its name identifies it instead.
            groups.setdefault(row.sha256 or f"id:{row.model_id}", []).append(row)
    out: list[DriftSignal] = []
    for rows in sorted(groups.values(), key=len, reverse=True):
        rows.sort(key=lambda r: r.ts)
        signals = model_drift(rows, **limits)
        out.extend(sorted(signals, key=lambda s: not s.flagged))
    return out

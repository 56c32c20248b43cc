"""Drift: a sudden change of answer length, refusal rate or latency is flagged; noise is not."""

from __future__ import annotations

import random
from datetime import timedelta

from app.core.audit import AuditLog
from app.core.observe import CallRow, DriftSignal, UsageCache, drift_signals, usage_report
from app.core.paths import AppPaths
from tests.unit.core.observe.synthetic import NOW, SHA_A, SHA_B, FakeClock, record_call


def calls(
    n: int,
    seed: int,
    *,
    tokens: float = 150.0,
    latency: float = 2000.0,
    refusal_p: float = 0.05,
    sha256: str = SHA_A,
    start: int = 0,
) -> list[CallRow]:
    """``n`` successful calls with normal noise (sd 20 % of the mean) around the given means."""
    rng = random.Random(seed)
    return [
        CallRow(
            ts=NOW - timedelta(hours=1000 - start - i),
            model_id="qwen-small",
            sha256=sha256,
            route="local",
            classification="local",
            status="ok",
            tokens_in=20,
            tokens_out=max(1, round(rng.gauss(tokens, tokens * 0.2))),
            ttft_ms=100.0,
            latency_ms=max(1.0, rng.gauss(latency, latency * 0.2)),
            tokens_per_s=None,
            cost=0.0,
            refusal=rng.random() < refusal_p,
        )
        for i in range(n)
    ]


def by_metric(signals: list[DriftSignal]) -> dict[str, DriftSignal]:
    return {s.metric: s for s in signals}


def test_a_stable_model_is_not_flagged() -> None:
    for seed in range(5):
        signals = drift_signals(calls(220, seed))
        assert len(signals) == 3
        assert not any(s.flagged for s in signals), [s.explanation for s in signals]
        assert all(s.baseline is not None for s in signals)
        assert all("steady" in s.explanation for s in signals)


def test_longer_answers_are_flagged() -> None:
    rows = calls(200, 1) + calls(20, 2, tokens=400.0, start=200)
    signals = by_metric(drift_signals(rows))
    length = signals["answer_tokens"]
    assert length.flagged and (length.baseline_calls, length.recent_calls) == (200, 20)
    assert length.baseline is not None and length.recent is not None
    assert 130 < length.baseline < 170 and 350 < length.recent < 450
    assert length.explanation.startswith("Answer length rose")
    assert not signals["latency_ms"].flagged and not signals["refusal_rate"].flagged


def test_a_small_real_change_is_not_flagged() -> None:
    # 15 % longer with a tight spread: significant, but below the 25 % that matters.
    rows = calls(200, 3) + calls(20, 4, tokens=172.0, start=200)
    assert not by_metric(drift_signals(rows))["answer_tokens"].flagged


def test_more_refusals_are_flagged() -> None:
    rows = calls(200, 5, refusal_p=0.02) + calls(20, 6, refusal_p=0.5, start=200)
    refusals = by_metric(drift_signals(rows))["refusal_rate"]
    assert refusals.flagged and refusals.score is not None and refusals.score > 3
    assert refusals.explanation.startswith("Refusals rose")


def with_refusals(rows: list[CallRow], refused: int) -> list[CallRow]:
    """``rows`` with none refused except the last ``refused``."""
    n = len(rows)
    return [CallRow(**{**r.__dict__, "refusal": i >= n - refused}) for i, r in enumerate(rows)]


def test_one_refusal_after_none_is_not_drift() -> None:
    rows = with_refusals(calls(220, 7), refused=1)
    refusals = by_metric(drift_signals(rows))["refusal_rate"]
    assert (refusals.baseline, refusals.recent) == (0.0, 0.05)
    assert not refusals.flagged and "steady" in refusals.explanation


def test_a_significant_but_small_rise_in_refusals_is_not_drift() -> None:
    # 8 in the last 100 after none in 200: z > 3, but 8 points is below what matters.
    rows = with_refusals(calls(300, 8), refused=8)
    refusals = by_metric(drift_signals(rows, recent_calls=100))["refusal_rate"]
    assert refusals.score is not None and refusals.score > 3
    assert not refusals.flagged
    rows = with_refusals(calls(300, 8), refused=12)
    assert by_metric(drift_signals(rows, recent_calls=100))["refusal_rate"].flagged


def test_slower_calls_are_flagged() -> None:
    rows = calls(150, 9) + calls(20, 10, latency=5000.0, start=150)
    latency = by_metric(drift_signals(rows))["latency_ms"]
    assert latency.flagged and latency.baseline_calls == 150
    assert "Latency rose" in latency.explanation


def test_the_baseline_is_the_calls_just_before_the_recent_ones() -> None:
    # Old slow calls fall out of the 200-call baseline: today's speed is judged against recent.
    rows = calls(100, 11, latency=9000.0) + calls(220, 12, start=100)
    assert not by_metric(drift_signals(rows))["latency_ms"].flagged


def test_too_few_calls_are_not_judged() -> None:
    signals = drift_signals(calls(59, 13))
    assert [s.flagged for s in signals] == [False, False, False]
    assert all(s.baseline is None and "Too few calls" in s.explanation for s in signals)
    assert "59 calls" in by_metric(signals)["answer_tokens"].explanation


def test_each_model_file_is_judged_on_its_own() -> None:
    rows = calls(220, 15) + calls(200, 16, sha256=SHA_B, start=0)
    rows += calls(20, 17, sha256=SHA_B, tokens=30.0, start=200)
    flagged = [(s.sha256, s.metric) for s in drift_signals(rows) if s.flagged]
    assert flagged == [(SHA_B, "answer_tokens")]


def test_failed_calls_do_not_count() -> None:
    rows = calls(220, 18)
    failed = [CallRow(**{**r.__dict__, "status": "error", "tokens_out": 1}) for r in calls(20, 19)]
    assert not any(s.flagged for s in drift_signals(rows + failed))


def test_the_report_carries_drift_from_the_real_log(
    app_paths: AppPaths, audit: AuditLog, clock: FakeClock
) -> None:
    rng = random.Random(20)
    clock.set(NOW - timedelta(days=2))
    for i in range(80):
        tokens = rng.gauss(600.0 if i >= 60 else 150.0, 20.0)
        record_call(audit, tokens_out=round(tokens), latency_ms=rng.gauss(2000, 100))
        clock.advance(minutes=10)
    drift = usage_report(app_paths, now=NOW, cache=UsageCache())["drift"]
    flagged = [d for d in drift if d["flagged"]]
    assert [(d["sha256"], d["metric"]) for d in flagged] == [(SHA_A, "answer_tokens")]
    assert flagged[0]["baseline_calls"] == 60 and flagged[0]["recent_calls"] == 20

"""``enclave stats`` as an administrator runs it."""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from app.cli.stats import register
from app.core.audit import AuditLog
from app.core.paths import AppPaths
from tests.unit.core.observe.synthetic import FakeClock, record_call


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="enclave")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.fixture
def drifting_log(app_paths: AppPaths, audit: AuditLog, clock: FakeClock) -> AppPaths:
    """80 local calls over the last two days whose last 20 answers got much longer."""
    rng = random.Random(3)
    clock.set(datetime.now(UTC) - timedelta(days=2))
    for i in range(80):
        record_call(audit, tokens_out=round(rng.gauss(700 if i >= 60 else 150, 20)),
                    latency_ms=rng.gauss(2000, 100), refusal=i % 10 == 0)
        clock.advance(minutes=30)
    record_call(audit, model="gpt-x", sha256="", route="openai", classification="external",
                cost=0.02)
    return app_paths


def test_json_parses_and_holds_every_window(
    drifting_log: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stats", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["windows"]) == {"day", "week", "month"}
    week = report["windows"]["week"]
    assert week["totals"]["calls"] == 81
    assert {(g["model_id"], g["route"]) for g in week["groups"]} == {
        ("qwen-small", "local"), ("gpt-x", "openai"),
    }
    assert [d["metric"] for d in report["drift"] if d["flagged"]] == ["answer_tokens"]


def test_json_for_one_window(drifting_log: AppPaths, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stats", "--json", "--window", "day"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["windows"]) == ["day"]
    assert 0 < report["windows"]["day"]["totals"]["calls"] < 81


def test_the_table_names_models_routes_and_drift(
    drifting_log: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stats", "--window", "month"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage over the last month")
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert "p95 lat" in header and "tok/s" in header
    rows = [line.split() for line in out.splitlines() if line.startswith(("qwen", "gpt"))]
    assert [(r[0], r[1], r[2]) for r in rows] == [("qwen-small", "local", "80"),
                                                    ("gpt-x", "openai", "1")]
    assert "Drift:" in out and "! qwen-small (aaaaaaaaaaaa): Answer length rose" in out


def test_no_calls_yet_is_said_plainly(
    app_paths: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["stats"]) == 0
    out = capsys.readouterr().out
    assert "No model calls in this window." in out
    assert "Drift: no calls recorded yet." in out

"""Synthetic usage written through the real audit log, at times a fake clock chooses.

The audit log stamps each record with the time it is written; usage windows need records of
different ages, so tests replace the log's clock (``FakeClock``) — the log itself is real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.core.audit import AuditLog, events

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
SHA_A = "a" * 64
SHA_B = "b" * 64


class FakeClock:
    """A settable clock for the audit log's timestamps (a fake: time cannot wait in a test)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime = NOW) -> None:
        self.now = start
        monkeypatch.setattr("app.core.audit.log.utc_timestamp", self.stamp)

    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def record_call(
    log: AuditLog,
    *,
    model: str = "qwen-small",
    sha256: str = SHA_A,
    route: str = "local",
    classification: str = "local",
    tokens_in: int = 20,
    tokens_out: int = 101,
    ttft_ms: float = 100.0,
    latency_ms: float = 1100.0,
    cost: float = 0.0,
    status: str = "ok",
    refusal: bool | None = False,
    started: bool = False,
) -> dict[str, Any]:
    """Write one ``model.call`` record shaped the way ``ChatService`` writes it."""
    if started:
        return log.record(
            events.MODEL_CALL,
            model={"id": model, "sha256": sha256},
            route={"name": route, "classification": classification},
            outcome={"status": "ok", "reason": "started"},
        )
    fields: dict[str, Any] = {}
    if refusal is not None:
        fields["detail"] = {"refusal": refusal, "answer_chars": tokens_out * 4}
    return log.record(
        events.MODEL_CALL,
        model={"id": model, "sha256": sha256},
        route={"name": route, "classification": classification},
        policy={"rule": "default"},
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        ttft_ms=ttft_ms,
        latency_ms=latency_ms,
        cost=cost,
        outcome={"status": status, "reason": "stop" if status == "ok" else "engine failed"},
        **fields,
    )

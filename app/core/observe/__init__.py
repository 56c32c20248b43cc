"""Usage observability: per-call metrics from the audit log, aggregates, drift, refusals.

``usage_report(paths)`` is what ``enclave stats`` and the Usage view show; ``is_refusal`` is what
``ChatService`` records in each ``model.call`` record's ``detail``.
"""

from __future__ import annotations

from app.core.observe.aggregate import WINDOWS, aggregate, percentile
from app.core.observe.drift import DriftSignal, drift_signals
from app.core.observe.metrics import CallRow, UsageCache, UsageRows, read_usage
from app.core.observe.refusal import is_refusal
from app.core.observe.report import build_report, usage_report

__all__ = [
    "WINDOWS",
    "CallRow",
    "DriftSignal",
    "UsageCache",
    "UsageRows",
    "aggregate",
    "build_report",
    "drift_signals",
    "is_refusal",
    "percentile",
    "read_usage",
    "usage_report",
]

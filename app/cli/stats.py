"""``enclave stats``: how the models were used, how fast they were, and whether they drifted."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli._common import print_json
from app.core.observe import WINDOWS, usage_report
from app.core.paths import default_paths

_COLUMNS = (
    ("model", "<"),
    ("route", "<"),
    ("calls", ">"),
    ("err", ">"),
    ("refused", ">"),
    ("p50 lat", ">"),
    ("p95 lat", ">"),
    ("p50 ttft", ">"),
    ("p95 ttft", ">"),
    ("tok/s", ">"),
    ("tok in", ">"),
    ("tok out", ">"),
    ("cost", ">"),
)


def register(subparsers: Any) -> None:
    """Add ``enclave stats``."""
    parser = subparsers.add_parser(
        "stats", help="usage per model and route, from the audit log, with drift warnings"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--window",
        choices=tuple(WINDOWS),
        help="the last day, week (the table's default) or month (30 days); "
        "with --json, only that window",
    )
    parser.set_defaults(handler=cmd_stats)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _row(group: dict[str, Any]) -> list[str]:
    speed = group["tokens_per_s_mean"]
    return [
        group["model_id"],
        group["route"],
        str(group["calls"]),
        _rate(group["error_rate"]),
        _rate(group["refusal_rate"]),
        _ms(group["latency_ms"]["p50"]),
        _ms(group["latency_ms"]["p95"]),
        _ms(group["ttft_ms"]["p50"]),
        _ms(group["ttft_ms"]["p95"]),
        "-" if speed is None else f"{speed:.1f}",
        str(group["tokens_in"]),
        str(group["tokens_out"]),
        f"{group['cost']:.4f}" if group["cost"] else "0",
    ]


def format_table(rows: list[list[str]]) -> list[str]:
    """Lay ``rows`` out under the column headings, each column as wide as its widest cell."""
    header = [name for name, _ in _COLUMNS]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for cells in [header, *rows]:
        columns = zip(cells, _COLUMNS, widths, strict=True)
        parts = [f"{c:{align}{w}}" for c, (_, align), w in columns]
        lines.append("  ".join(parts).rstrip())
    return lines


def render_text(report: dict[str, Any], window: str) -> str:
    """Return the report as people read it: one window's table, then drift."""
    data = report["windows"][window]
    totals = data["totals"]
    lines = [f"Usage over the last {window} ({data['since']} to {data['until']})", ""]
    if not data["groups"]:
        lines.append("No model calls in this window.")
    else:
        lines.extend(format_table([_row(g) for g in data["groups"]]))
        lines.append("")
        lines.append(
            f"{totals['calls']} calls, {_rate(totals['error_rate'])} errors, "
            f"{_rate(totals['refusal_rate'])} refused by the model, "
            f"cost {totals['cost']:.4f}"
        )
    refused = data["policy_refusals"]
    if refused:
        per_route = ", ".join(f"{route}: {n}" for route, n in refused.items())
        lines.append(f"Turns refused by policy: {sum(refused.values())} ({per_route})")
    lines.append("")
    flagged = [s for s in report["drift"] if s["flagged"]]
    if flagged:
        lines.append("Drift:")
        for s in flagged:
            digest = f" ({s['sha256'][:12]})" if s["sha256"] else ""
            lines.append(f"  ! {s['model_id']}{digest}: {s['explanation']}")
    elif report["drift"]:
        lines.append("Drift: none flagged.")
        unjudged = {s["model_id"] for s in report["drift"] if s["baseline"] is None}
        if unjudged:
            lines.append(f"  Too few calls yet to judge: {', '.join(sorted(unjudged))}.")
    else:
        lines.append("Drift: no calls recorded yet.")
    if report["skipped_lines"]:
        lines.append(
            f"Note: {report['skipped_lines']} unreadable line(s) in the audit log were skipped; "
            "run `enclave audit verify`."
        )
    return "\n".join(lines)


def cmd_stats(args: argparse.Namespace) -> int:
    """Print usage figures from the audit log."""
    report = usage_report(default_paths())
    if args.json:
        if args.window:
            report["windows"] = {args.window: report["windows"][args.window]}
        print_json(report)
    else:
        print(render_text(report, args.window or "week"))
    return 0

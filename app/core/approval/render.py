"""Readable summaries of a report: Markdown and a self-contained HTML page.

Both are drawn from the signed JSON and say which file to check: the JSON is the report, these
are views of it. Every value from the report is escaped (HTML) or put in code spans or a
fenced block (Markdown), since answers are model output.
"""

from __future__ import annotations

import html
from typing import Any

from app.core.units import human_size


def _pct(value: Any) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) else "–"


def _num(value: Any, unit: str = "") -> str:
    return f"{float(value):.3g}{unit}" if isinstance(value, int | float) else "–"


def _facts(report: dict[str, Any]) -> list[tuple[str, str]]:
    model, engine = report.get("model") or {}, report.get("engine") or {}
    machine, perf = report.get("machine") or {}, report.get("performance") or {}
    peak = perf.get("peak_memory_bytes")
    return [
        ("Model", f"{model.get('name')} ({model.get('id')})"),
        ("Model SHA-256", str(model.get("sha256"))),
        ("Report SHA-256", str(report.get("sha256"))),
        ("Signed", "yes" if report.get("signature") else "no"),
        ("Created", str(report.get("created"))),
        ("llama.cpp", str(engine.get("llama_build"))),
        ("Engine", f"{engine.get('device')}, context {engine.get('context_length')}, "
                   f"threads {engine.get('threads') or 'adaptive'}"),
        ("CPU", f"{machine.get('cpu')} ({machine.get('logical_cpus')} logical CPUs; flags: "
                f"{' '.join(machine.get('cpu_flags') or []) or 'none listed'})"),
        ("Memory", human_size(int(machine.get("memory_bytes") or 0))),
        ("Load time", _num(perf.get("load_s"), " s")),
        ("Time to first token (median)", _num(perf.get("ttft_s_median"), " s")),
        ("Decoding (median)", _num(perf.get("tokens_per_s_median"), " tokens/s")),
        ("Prompt processing", _num(perf.get("prompt_tokens_per_s"), " tokens/s")),
        ("Peak memory (engine)", human_size(int(peak)) if isinstance(peak, int) else "–"),
        ("Context (engine / trained)", f"{perf.get('context_length')} / "
                                       f"{perf.get('context_length_trained')}"),
        ("Duration", _num(report.get("duration_s"), " s")),
    ]


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    verdict = "PASSED" if report.get("passed") else "DID NOT PASS"
    lines = [f"# Model evaluation: {verdict}", "",
             f"The signed report is `{report.get('id')}.json`; this page is a view of it.", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in _facts(report)]
    lines += ["", "## Suites", "", "| suite | version | score | required | result |",
              "|---|---|---|---|---|"]
    for s in report.get("suites") or []:
        lines.append(f"| {s.get('name')} | {s.get('version')} | {_pct(s.get('score'))} | "
                     f"{_pct(s.get('threshold'))} | {'pass' if s.get('passed') else 'FAIL'} |")
    lines += ["", "## Items", ""]
    for item in report.get("items") or []:
        mark = "✓" if item.get("passed") else "✗"
        lines += [f"### {mark} {item.get('suite')} / {item.get('id')} — {item.get('probe')}",
                  "", f"Expected: {item.get('expected')}  ", f"Result: {item.get('detail')}  ",
                  f"Prompt SHA-256: `{item.get('prompt_sha256')}`", ""]
        if item.get("output"):
            fence = "````" if "```" in str(item["output"]) else "```"
            lines += [fence + "text", str(item["output"]), fence, ""]
    return "\n".join(lines)


def html_page(report: dict[str, Any]) -> str:
    """The report as one HTML page (no scripts, no outside resources)."""
    e = html.escape
    verdict = "passed" if report.get("passed") else "did not pass"
    rows = "".join(f"<tr><th>{e(k)}</th><td><code>{e(v)}</code></td></tr>"
                   for k, v in _facts(report))
    suites = "".join(
        f"<tr><td>{e(str(s.get('name')))}</td><td>{e(str(s.get('version')))}</td>"
        f"<td>{_pct(s.get('score'))}</td><td>{_pct(s.get('threshold'))}</td>"
        f"<td class={'ok' if s.get('passed') else 'bad'}>"
        f"{'pass' if s.get('passed') else 'FAIL'}</td></tr>"
        for s in report.get("suites") or [])
    items = "".join(
        f"<tr><td class={'ok' if i.get('passed') else 'bad'}>{'✓' if i.get('passed') else '✗'}"
        f"</td><td>{e(str(i.get('suite')))}/{e(str(i.get('id')))}<br><small>"
        f"{e(str(i.get('probe')))}</small></td><td>{e(str(i.get('expected')))}</td>"
        f"<td><pre>{e(str(i.get('output') or ''))}</pre></td><td>{e(str(i.get('detail')))}"
        f"</td></tr>" for i in report.get("items") or [])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Model evaluation {e(str(report.get('id')))}</title><style>"
        "body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        "pre{white-space:pre-wrap;margin:0;max-width:40em}.ok{color:#0a6b2b}.bad{color:#a4000f}"
        f"</style></head><body><h1>Model evaluation: {e(verdict)}</h1>"
        f"<p>The signed report is <code>{e(str(report.get('id')))}.json</code>; this page is a "
        f"view of it.</p><table>{rows}</table><h2>Suites</h2><table><tr><th>suite</th>"
        f"<th>version</th><th>score</th><th>required</th><th>result</th></tr>{suites}</table>"
        "<h2>Items</h2><table><tr><th></th><th>item</th><th>expected</th><th>answer</th>"
        f"<th>result</th></tr>{items}</table></body></html>"
    )

"""``enclave models evaluate | reports | report | compare | approval``: approving a model.

Registered by ``models.register`` (these are ``models`` actions, not a command group of their
own, so this module has no ``register``). The work is the core's
(``app.core.approval``); this module prints progress, tables and reports.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.cli._common import print_json
from app.core.errors import EnclaveError, ExitCode

MAX_SYSTEM_PROMPT_BYTES = 64 * 1024


def add_actions(msub: Any) -> None:
    """Add the approval actions to ``enclave models``."""
    ev = msub.add_parser("evaluate", help="run evaluation suites on a model; keep a signed report")
    ev.add_argument("id", nargs="?", help="model id, file name, sha256 or path "
                    "(default: the model for new chats)")
    _suite_flags(ev)
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(handler=evaluate)

    ls = msub.add_parser("reports", help="list kept evaluation reports")
    ls.add_argument("id", nargs="?", help="only reports of this model (id, file or sha256)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=reports)

    show = msub.add_parser("report", help="show one evaluation report and check its signature")
    show.add_argument("ref", help="report id or prefix, report file, or a model (its newest)")
    show.add_argument("--format", choices=("text", "json", "markdown", "html"), default="text")
    show.set_defaults(handler=report)

    cmp = msub.add_parser("compare", help="run the same suites on two models, side by side")
    cmp.add_argument("a", help="first model (id, file name, sha256 or path)")
    cmp.add_argument("b", help="second model")
    _suite_flags(cmp)
    cmp.add_argument("--json", action="store_true")
    cmp.set_defaults(handler=compare)

    ap = msub.add_parser("approval", help="print the approval file an administrator installs "
                         "for a report (managed/approvals/)")
    ap.add_argument("ref", help="report id or prefix, report file, or a model (its newest)")
    ap.add_argument("--by", default="", help="who approves (written into the file)")
    ap.add_argument("--note", default="", help="why (written into the file)")
    ap.set_defaults(handler=approval)


def _suite_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", action="append", default=[], metavar="NAME",
                   help="run this suite (repeatable; default: the default and site suites)")
    p.add_argument("--system-prompt-file", type=Path, metavar="FILE",
                   help="evaluate under the site's own system prompt, read from FILE")


def _context() -> tuple[Any, Any, Any]:
    from app.core.paths import default_paths
    from app.core.policy import load_policy
    from app.core.settings import Settings

    paths = default_paths().ensure()
    policy = load_policy(paths.policy_root)
    return paths, policy, Settings.load(paths, policy)


def _system_prompt(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()[: MAX_SYSTEM_PROMPT_BYTES + 1]
        if len(data) > MAX_SYSTEM_PROMPT_BYTES:
            raise ValueError("larger than 64 KiB")
        return data.decode("utf-8").strip() or None
    except (OSError, ValueError) as exc:
        raise EnclaveError(f"The system prompt file {path} cannot be used ({exc}).",
                           "Give a UTF-8 text file of at most 64 KiB.") from None


@contextmanager
def _cancellable() -> Iterator[threading.Event]:
    """Ctrl+C stops after the current answer; a second Ctrl+C stops at once."""
    cancel = threading.Event()

    def stop(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nStopping after the current answer (Ctrl+C again to stop now)…",
              file=sys.stderr)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _progress(label: str = "") -> Any:
    """A progress printer: one updating line on a terminal, a line per item otherwise."""
    tty = sys.stderr.isatty()

    def show(p: Any) -> None:
        prefix = f"{label} " if label else ""
        if p.phase in ("loading", "indexing"):
            what = "Loading the model" if p.phase == "loading" else "Indexing suite documents"
            print(f"{prefix}{what}…", file=sys.stderr)
            return
        if p.phase != "item":
            if tty:
                print(file=sys.stderr)
            return
        mark = "✓" if p.passed else "✗"
        line = (f"{prefix}[{p.done}/{p.total}] {mark} {p.suite}/{p.item}  "
                f"{_clock(p.elapsed_s)} elapsed, {_clock(p.eta_s)} left")
        print(f"\r\033[K{line}" if tty else line, end="" if tty else "\n", file=sys.stderr,
              flush=True)

    return show


def _open_audit(paths: Any, policy: Any) -> Any:
    from app.core.context import open_audit

    audit, warnings = open_audit(paths, policy)
    for warning in warnings:
        print(f"enclave: {warning}", file=sys.stderr)
    return audit


def _suites(args: argparse.Namespace, policy: Any) -> Any:
    from app.core.approval.suites import select, site_dirs

    return select(args.suite, site_dirs(policy))


def _pct(value: Any) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) else "–"


def _performance_line(perf: dict[str, Any]) -> str:
    from app.core.units import human_size

    def num(key: str, unit: str) -> str:
        value = perf.get(key)
        return f"{value:.3g}{unit}" if isinstance(value, int | float) else "–"

    peak = perf.get("peak_memory_bytes")
    return (f"load {num('load_s', ' s')} · first token {num('ttft_s_median', ' s')} · "
            f"{num('tokens_per_s_median', ' tokens/s')} · prompt "
            f"{num('prompt_tokens_per_s', ' tokens/s')} · peak memory "
            f"{human_size(peak) if isinstance(peak, int) else '–'} · context "
            f"{perf.get('context_length')} (trained {perf.get('context_length_trained')})")


def _print_report(rep: dict[str, Any], path: Any) -> None:
    model = rep["model"]
    print(f"{model['name']} ({model['id']}), SHA-256 {model['sha256']}")
    print(f"{'suite':<14} {'version':<9} {'score':>6} {'required':>9}  result")
    for s in rep["suites"]:
        print(f"{s['name']:<14} {s['version']:<9} {_pct(s['score']):>6} "
              f"{_pct(s['threshold']):>9}  {'pass' if s['passed'] else 'FAIL'}")
    print(f"Performance: {_performance_line(rep['performance'])}")
    signed = "signed" if rep.get("signature") else "NOT signed: no audit key in the keyring"
    print(f"Report: {path} ({signed}); readable copies beside it (.md, .html)")
    failed = [s["name"] for s in rep["suites"] if not s["passed"]]
    print("Passed." if not failed else f"Did not pass: {', '.join(failed)}.")


def evaluate(args: argparse.Namespace) -> int:
    """Evaluate one model; exit 0 when it passed, 1 when a suite fell short, 130 if stopped."""
    from app.core.approval.runner import evaluate as run

    paths, policy, settings = _context()
    suites = _suites(args, policy)
    prompt = _system_prompt(args.system_prompt_file)
    audit = _open_audit(paths, policy)
    try:
        with _cancellable() as cancel:
            result = run(paths, policy, args.id, suites=suites, settings=settings, audit=audit,
                         system_prompt=prompt, on_progress=_progress(), cancel=cancel)
    finally:
        if audit is not None:
            audit.close()
    if result.cancelled or result.report is None:
        print(f"Evaluation stopped after {result.done} of {result.total} items; no report was "
              "kept.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if args.json:
        print_json({"path": str(result.path), "report": result.report})
    else:
        _print_report(result.report, result.path)
    return ExitCode.OK if result.passed else ExitCode.FAILED


def reports(args: argparse.Namespace) -> int:
    """List kept reports, newest first, each with whether its signature checks out here."""
    from app.core.approval.reports import ReportStore
    from app.core.approval.signing import report_key

    paths, _policy, _settings = _context()
    sha = None
    if args.id:
        from app.core.models.registry import ModelRegistry

        registry = ModelRegistry(paths)
        sha = registry.sha256(registry.find(args.id))
    rows = ReportStore(paths).summaries(report_key(create=False), sha)
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        print("No evaluation reports yet. Run `enclave models evaluate MODEL`.")
    for r in rows:
        scores = " ".join(f"{k} {v:.0%}" for k, v in r.scores.items())
        state = "verifies" if r.verification.ok else f"UNTRUSTED: {r.verification.reason}"
        print(f"{'✓' if r.passed else '✗'} {r.id}  {r.model_id}  {scores}  [{state}]")
    return 0


def report(args: argparse.Namespace) -> int:
    """Show one report; exit 1 when it fails verification (changed, unsigned, other key)."""
    from app.core.approval import render
    from app.core.approval.reports import ReportStore
    from app.core.approval.signing import report_key, verify

    paths, _policy, _settings = _context()
    rep, path = ReportStore(paths).find(args.ref)
    check = verify(rep, report_key(create=False))
    if args.format == "json":
        print_json({"path": str(path), "verified": check.ok, "verification": check.reason,
                    "report": rep})
    elif args.format == "markdown":
        print(render.markdown(rep))
    elif args.format == "html":
        print(render.html_page(rep))
    else:
        _print_report(rep, path)
    print(f"Verification: {check.reason}", file=sys.stderr)
    return ExitCode.OK if check.ok else ExitCode.FAILED


def _print_comparison(table: dict[str, Any]) -> None:
    a, b = table["a"], table["b"]
    print(f"A: {a['name']} ({a['id']}, {str(a['sha256'])[:12]}…)")
    print(f"B: {b['name']} ({b['id']}, {str(b['sha256'])[:12]}…)")
    print(f"\n{'suite':<14} {'A':>6} {'B':>6}")
    for row in table["suites"]:
        print(f"{row['suite']:<14} {_pct(row['a']):>6} {_pct(row['b']):>6}")
    print(f"\n{'figure':<24} {'A':>12} {'B':>12}")
    for row in table["performance"]:
        print(f"{row['figure']:<24} {row['a']!s:>12} {row['b']!s:>12}")
    diffs = table["differences"]
    print(f"\n{len(diffs)} of {table['items_compared']} answers differ.")
    for d in diffs:
        print(f"\n== {d['suite']}/{d['id']} ({d['probe']})")
        if d.get("prompt"):
            print(f"   prompt: {d['prompt']}")
        for side in ("a", "b"):
            mark = "✓" if d[side]["passed"] else "✗"
            text = " ".join(str(d[side]["output"] or "").split())
            print(f"   {side.upper()} {mark} {text}")


def compare(args: argparse.Namespace) -> int:
    """Evaluate two models on the same suites and show them side by side."""
    from app.core.approval.compare import compare as run

    paths, policy, settings = _context()
    suites = _suites(args, policy)
    prompt = _system_prompt(args.system_prompt_file)
    audit = _open_audit(paths, policy)
    printers = {"A": _progress("A"), "B": _progress("B")}
    try:
        with _cancellable() as cancel:
            result = run(paths, policy, args.a, args.b, suites=suites, settings=settings,
                         audit=audit, system_prompt=prompt, cancel=cancel,
                         on_progress=lambda side, p: printers[side](p))
    finally:
        if audit is not None:
            audit.close()
    if result.cancelled:
        print("Comparison stopped; no report was kept for the unfinished side.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if args.json:
        print_json({**result.table, "reports": {"a": str(result.a.path),
                                                 "b": str(result.b.path)}})
    else:
        _print_comparison(result.table)
    return 0


def approval(args: argparse.Namespace) -> int:
    """Print the approval file for a report, for an administrator to install."""
    from app.core.approval.gate import approvals_dir
    from app.core.approval.reports import ReportStore, model_of
    from app.core.approval.signing import report_key, verify

    paths, _policy, _settings = _context()
    rep, _path = ReportStore(paths).find(args.ref)
    check = verify(rep, report_key(create=False))
    if not check.intact:
        raise EnclaveError(f"This report cannot be approved: {check.reason}",
                           "Evaluate the model again with `enclave models evaluate`.")
    model = model_of(rep)
    print_json({"schema_version": 1, "sha256": model.get("sha256"),
                "report_sha256": rep.get("sha256"), "model_id": model.get("id"),
                "approved_by": args.by, "note": args.note})
    print(f"Install it, owned by root and mode 0644, as "
          f"{approvals_dir(paths.policy_root)}/{model.get('id')}.json", file=sys.stderr)
    if not check.ok:
        print(f"Note: {check.reason}", file=sys.stderr)
    return 0

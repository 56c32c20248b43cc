"""Model evaluation: how long the default suites take on this machine (goal: under 5 minutes
for SmolLM2-135M on a 2-core machine), and what they measure.

Runs ``enclave models evaluate``'s core (``app.core.approval.runner.evaluate``) on the default
model with the default suites, in a throwaway ENCLAVE_HOME, exactly as a user's run: the
engine process, the user's default engine settings, a signed report. Prints the machine (CPU
with the flags llama.cpp picks kernels by, logical CPUs, load average before and after), the
time of each phase, each suite's score and time, and the performance figures.

Usage: python bench/evaluate.py [--model ID] [--suite NAME ...] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from typing import Any

GOAL_S = 300.0


def machine_line() -> str:
    """CPU, flags, CPUs and what else the machine was doing."""
    from app.core.approval.machine import cpu, llama_build

    name, flags = cpu()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (f"CPU: {name}, {os.cpu_count()} logical CPUs; flags: {' '.join(flags) or 'none'}"
            f"{'' if 'amx_int8' in flags else ' (no AMX)'}; {llama_build()}; "
            f"python {platform.python_version()}; load average {load[0]:.2f}")


def run_once(model: str | None, suites: list[str]) -> dict[str, Any]:
    """One evaluation in a fresh ENCLAVE_HOME; returns timings and the report."""
    from app.core.approval.runner import EvaluationProgress, evaluate
    from app.core.approval.suites import select, site_dirs
    from app.core.paths import default_paths
    from app.core.policy import load_policy

    paths = default_paths().ensure()
    policy = load_policy(paths.policy_root)
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(p: EvaluationProgress) -> None:
        now = time.perf_counter() - started
        if p.phase == "item":
            marks.setdefault(f"first {p.suite}", now)
            marks[f"last {p.suite}"] = now
        else:
            marks.setdefault(p.phase, now)

    result = evaluate(paths, policy, model, suites=select(suites, site_dirs(policy)),
                      on_progress=progress)
    return {"total": time.perf_counter() - started, "marks": marks, "report": result.report}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model id (default: the default model)")
    parser.add_argument("--suite", action="append", default=[], help="suite (default: all)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(machine_line())
    real_models = None
    from app.core.paths import default_paths

    real_models = default_paths().user_models_dir
    totals = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="enclave-bench-eval-") as home:
            os.environ["ENCLAVE_HOME"] = home
            os.environ.setdefault("ENCLAVE_SITE_MODELS_DIR", str(real_models))
            out = run_once(args.model, args.suite)
        rep = out["report"]
        totals.append(out["total"])
        print(f"\nrun {n + 1}: {out['total']:.1f} s in all "
              f"({'under' if out['total'] < GOAL_S else 'OVER'} the {GOAL_S:.0f} s goal)")
        for name, at in sorted(out["marks"].items(), key=lambda kv: kv[1]):
            print(f"  {at:7.1f} s  {name}")
        for s in rep["suites"]:
            print(f"  {s['name']:<12} {s['version']:<6} {s['passed_items']:>2}/{s['items']:<2} "
                  f"{s['score']:.0%}  {'pass' if s['passed'] else 'FAIL'}")
        print(f"  performance: {rep['performance']}")
    print(f"\n{machine_line()}")
    if len(totals) > 1:
        print(f"total per run: {', '.join(f'{t:.1f}' for t in totals)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

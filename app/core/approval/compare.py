"""Two models side by side: the same suites, scores, speed, memory and the answers that differ.

Each side is a full evaluation (``runner.evaluate``): its own engine process, the suites' fixed
seeds, a signed report kept and a ``model.evaluated`` record. So a model compared with itself
gives the same answers on both sides, and either report can later approve its model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.approval.runner import EvaluationProgress, EvaluationResult, evaluate
from app.core.approval.suites import Suite, site_dirs
from app.core.approval.suites import select as select_suites
from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy
from app.core.ports import AuditSink
from app.core.settings import Settings

PERFORMANCE_FIGURES = ("load_s", "ttft_s_median", "tokens_per_s_median", "prompt_tokens_per_s",
                       "peak_memory_bytes", "context_length", "context_length_trained")

CompareProgress = Callable[[str, EvaluationProgress], None]
"""Receives ``"A"`` or ``"B"`` and that side's progress."""


@dataclass(frozen=True)
class Comparison:
    """Both runs, and what a table shows of them (``table``); ``cancelled`` if either was."""

    a: EvaluationResult
    b: EvaluationResult
    table: dict[str, Any]

    @property
    def cancelled(self) -> bool:
        """Whether the comparison was stopped before both sides finished."""
        return self.a.cancelled or self.b.cancelled


def _side(report: dict[str, Any]) -> dict[str, Any]:
    model = report.get("model") or {}
    return {"id": model.get("id"), "name": model.get("name"), "sha256": model.get("sha256"),
            "report_id": report.get("id"), "report_sha256": report.get("sha256"),
            "passed": report.get("passed")}


def _prompts(suites: Sequence[Suite]) -> dict[tuple[str, str], str]:
    return {(s.name, i.id): i.prompt for s in suites for i in s.items}


def side_by_side(
    a: dict[str, Any], b: dict[str, Any], suites: Sequence[Suite] = ()
) -> dict[str, Any]:
    """The comparison table of two reports: suites, performance, and differing answers."""
    scores_a = {s["name"]: s for s in a.get("suites") or []}
    scores_b = {s["name"]: s for s in b.get("suites") or []}
    rows = []
    for name in dict.fromkeys([*scores_a, *scores_b]):
        sa, sb = scores_a.get(name) or {}, scores_b.get(name) or {}
        rows.append({"suite": name, "version": sa.get("version") or sb.get("version"),
                     "a": sa.get("score"), "b": sb.get("score"),
                     "a_passed": sa.get("passed"), "b_passed": sb.get("passed")})
    perf_a, perf_b = a.get("performance") or {}, b.get("performance") or {}
    perf = [{"figure": f, "a": perf_a.get(f), "b": perf_b.get(f)} for f in PERFORMANCE_FIGURES]
    items_b = {(i["suite"], i["id"]): i for i in b.get("items") or []}
    prompts = _prompts(suites)
    differences = []
    compared = 0
    for item in a.get("items") or []:
        key = (item["suite"], item["id"])
        other = items_b.get(key)
        if other is None:
            continue
        compared += 1
        if item.get("output") != other.get("output") or item.get("passed") != other.get("passed"):
            differences.append({
                "suite": item["suite"], "id": item["id"], "probe": item.get("probe"),
                "prompt": prompts.get(key), "expected": item.get("expected"),
                "a": {"output": item.get("output"), "passed": item.get("passed")},
                "b": {"output": other.get("output"), "passed": other.get("passed")},
            })
    return {"a": _side(a), "b": _side(b), "suites": rows, "performance": perf,
            "items_compared": compared, "differences": differences,
            "identical": compared > 0 and not differences}


def compare(
    paths: AppPaths,
    policy: EffectivePolicy,
    model_a: str,
    model_b: str,
    *,
    suites: Sequence[Suite] | None = None,
    settings: Settings | None = None,
    audit: AuditSink | None = None,
    system_prompt: str | None = None,
    on_progress: CompareProgress | None = None,
    cancel: threading.Event | None = None,
    key: bytes | None = None,
) -> Comparison:
    """Evaluate ``model_a`` then ``model_b`` on the same suites and set them side by side.

    Raises:
        As :func:`app.core.approval.runner.evaluate`, for either model.
    """
    chosen = list(suites) if suites is not None else select_suites([], site_dirs(policy))
    cancel = cancel or threading.Event()
    results: list[EvaluationResult] = []
    for label, ref in (("A", model_a), ("B", model_b)):
        if cancel.is_set():
            results.append(EvaluationResult(None, None, cancelled=True))
            continue

        def tell(progress: EvaluationProgress, label: str = label) -> None:
            if on_progress is not None:
                on_progress(label, progress)

        results.append(evaluate(paths, policy, ref, suites=chosen, settings=settings,
                                audit=audit, system_prompt=system_prompt, on_progress=tell,
                                cancel=cancel, key=key))
    a, b = results
    table = side_by_side(a.report, b.report, chosen) if a.report and b.report else {}
    return Comparison(a, b, table)

"""Evaluate one model on this machine: run suites through the chat service, keep a signed report.

The model loads exactly as for a chat (the policy's allowlist still applies; only the approval
gate is set aside, since an evaluation is how a model earns approval), with the user's engine
settings, so the figures are this machine's. Items run one by one through
``ChatService.send``; grounded items ask a throwaway encrypted collection holding the suite's
documents, deleted when the run ends. Nothing is saved to the history, and no ``model.call``
record is written per item: the run writes one ``model.evaluated`` record naming the report.

Progress goes to ``on_progress`` after each step (an ETA from the items so far); ``cancel``
(a ``threading.Event``) stops the run between items and the current answer at its next token.
A cancelled run keeps no report.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import __version__
from app.core.approval import machine, render
from app.core.approval.perf import Performance, peak_memory
from app.core.approval.probes import ItemRun, collection_name, run_item, score_measure
from app.core.approval.reports import FORMAT, FORMAT_VERSION, ReportStore, new_report_id
from app.core.approval.signing import report_key, seal
from app.core.approval.suites import Suite, site_dirs
from app.core.approval.suites import select as select_suites
from app.core.audit import events
from app.core.chat import ChatService
from app.core.context import engine_options
from app.core.engines.base import GenerationParams
from app.core.grounding import Documents
from app.core.models.registry import InstalledModel, ModelRegistry
from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy
from app.core.ports import AuditSink
from app.core.settings import Settings


@dataclass(frozen=True)
class EvaluationProgress:
    """Where a run is, for a progress bar: after each step, with an ETA once items ran.

    Attributes:
        phase: ``loading`` (the model), ``indexing`` (suite documents), ``item`` or ``done``.
        done: Items finished.
        total: Items in the run.
        suite: The suite of the item just finished.
        item: The item just finished.
        passed: Whether it passed.
        elapsed_s: Seconds since the run started.
        eta_s: Estimated seconds left (``None`` until an item has run).
    """

    phase: str
    done: int
    total: int
    suite: str = ""
    item: str = ""
    passed: bool | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None


@dataclass(frozen=True)
class EvaluationResult:
    """A finished (or cancelled) run: the sealed report and where it was kept."""

    report: dict[str, Any] | None
    path: Path | None
    cancelled: bool = False
    done: int = 0
    total: int = 0

    @property
    def passed(self) -> bool:
        """Whether every suite met its threshold."""
        return bool(self.report and self.report.get("passed"))


ProgressCallback = Callable[[EvaluationProgress], None]


def thresholds(policy: Any, suites: Sequence[Suite]) -> dict[str, float]:
    """Each suite's threshold for this report: policy's minimum, else its own pass score."""
    minimum = dict(policy.get("models.minimum_scores") or {}) if policy is not None else {}
    return {s.name: float(minimum.get(s.name, s.pass_score)) for s in suites}


def _suite_entry(suite: Suite, runs: list[ItemRun], threshold: float) -> dict[str, Any]:
    passed = sum(r.passed for r in runs)
    score = passed / len(runs) if runs else 0.0
    probes: dict[str, list[int]] = {}
    for r in runs:
        tally = probes.setdefault(str(r.record["probe"]), [0, 0])
        tally[0] += int(r.passed)
        tally[1] += 1
    return {"name": suite.name, "version": suite.version, "digest": suite.digest,
            "category": suite.category, "origin": suite.origin, "items": len(runs),
            "passed_items": passed, "score": round(score, 4), "threshold": threshold,
            "passed": score >= threshold, "probes": probes, "params": suite.params.__dict__}


class _Run:
    """One evaluation's state; ``evaluate`` drives it."""

    def __init__(self, paths: AppPaths, policy: EffectivePolicy, suites: list[Suite],
                 on_progress: ProgressCallback | None, cancel: threading.Event) -> None:
        self.paths, self.policy, self.suites = paths, policy, suites
        self.on_progress, self.cancel = on_progress, cancel
        self.started = time.monotonic()
        self.first_item: float | None = None
        self.total = sum(len(s.items) for s in suites)
        self.done = 0
        self.perf = Performance()
        self.runs: dict[str, list[ItemRun]] = {s.name: [] for s in suites}
        self.index: Any = None
        self.scratch: Path | None = None

    def tell(self, phase: str, suite: str = "", item: str = "", passed: bool | None = None) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        eta = None
        if self.first_item is not None and self.done:
            eta = (now - self.first_item) / self.done * (self.total - self.done)
        self.on_progress(EvaluationProgress(phase, self.done, self.total, suite, item, passed,
                                            now - self.started, eta))

    def index_documents(self) -> Documents | None:
        """A throwaway encrypted collection per suite that has grounded items."""
        grounded = [s for s in self.suites if any(i.grounded for i in s.items)]
        if not grounded:
            return None
        from app.core.docs import ingest, load_embedder
        from app.core.docs.index import open_index_with_key

        self.tell("indexing")
        self.scratch = self.paths.cache_dir / f"evaluation-{secrets.token_hex(6)}"
        self.scratch.mkdir(parents=True, mode=0o700)
        self.index = open_index_with_key(self.scratch / "documents.db", secrets.token_hex(32),
                                         create=True)
        embedder = load_embedder(self.paths, variant=self.index.embedder)
        for suite in grounded:
            ingest(self.index, embedder, list(suite.documents), collection_name(suite))
        index = self.index
        return Documents(self.paths, self.policy, lambda: index)

    def cleanup(self) -> None:
        if self.index is not None:
            self.index.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def run_items(self, chat: ChatService, site_prompt: str | None) -> bool:
        """Every answer item, then the measurements; False when cancelled."""
        self.first_item = time.monotonic()
        measures: list[tuple[Suite, Any]] = []
        for suite in self.suites:
            for item in suite.items:
                if self.cancel.is_set():
                    return False
                if item.measure is not None:
                    measures.append((suite, item))
                    continue
                run = run_item(chat, suite, item, site_prompt=site_prompt, perf=self.perf,
                               cancel=self.cancel)
                if self.cancel.is_set():
                    return False
                self.runs[suite.name].append(run)
                self.done += 1
                self.tell("item", suite.name, item.id, run.passed)
        engine = chat.engine
        self.perf.peak_memory_bytes = peak_memory(getattr(engine, "pid", None))
        for suite, item in measures:
            run = score_measure(suite, item, self.perf)
            self.runs[suite.name].append(run)
            self.done += 1
            self.tell("item", suite.name, item.id, run.passed)
        order = {s.name: [i.id for i in s.items] for s in self.suites}
        for name, runs in self.runs.items():
            runs.sort(key=lambda r: order[name].index(str(r.record["id"])))
        return True


def _model_block(registry: ModelRegistry, model: InstalledModel, sha256: str) -> dict[str, Any]:
    info = registry.metadata(model)
    return {"id": model.id, "name": model.display_name, "file": model.path.name,
            "sha256": sha256, "size": model.size, "family": registry.family(model),
            "verified": model.catalog is not None and model.catalog.sha256 == sha256,
            "architecture": info.architecture, "parameter_count": info.parameter_count,
            "quantization": info.quantization, "context_length_trained": info.context_length,
            "license": (model.catalog.license if model.catalog else None) or info.license}


def _body(run: _Run, chat: ChatService, model: dict[str, Any], limits: dict[str, float],
          system: str | None) -> dict[str, Any]:
    info = chat.engine.info if chat.engine is not None else None
    suites = [_suite_entry(s, run.runs[s.name], limits[s.name]) for s in run.suites]
    created = datetime.now(UTC)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "id": new_report_id(model["id"], model["sha256"], created),
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "enclave": __version__,
        "duration_s": round(time.monotonic() - run.started, 2), "model": model,
        "engine": {"llama_build": machine.llama_build(),
                   "system_info": machine.engine_system_info(),
                   "device": info.device if info else None,
                   "context_length": info.context_length if info else None,
                   "threads": (info.extra.get("threads") if info else None),
                   "gpu_layers": (info.extra.get("gpu_layers") if info else None)},
        "machine": machine.describe(),
        "run": {"system_prompt_sha256": None if system is None else
                hashlib.sha256(system.encode("utf-8")).hexdigest()},
        "performance": run.perf.summary(), "suites": suites,
        "items": [r.record for s in run.suites for r in run.runs[s.name]],
        "passed": all(s["passed"] for s in suites),
    }


# Long on purpose: the run's lifecycle (load, index, items, seal, audit, keep) in order, with
# the one finally that closes the engine and deletes the throwaway collection.
def evaluate(
    paths: AppPaths,
    policy: EffectivePolicy,
    model_ref: str | None,
    *,
    suites: Sequence[Suite] | None = None,
    settings: Settings | None = None,
    audit: AuditSink | None = None,
    system_prompt: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    key: bytes | None = None,
) -> EvaluationResult:
    """Run ``suites`` (default: the default and site suites) on one model; keep the report.

    Args:
        paths: The user's directories (reports go to ``data_dir/evaluations``).
        policy: The effective policy (allowlist, thresholds, site suites).
        model_ref: Model id, file name, SHA-256 or path; ``None``: the default model.
        suites: The suites to run, in order.
        settings: The user's settings (engine options); loaded when not given.
        audit: Receives the ``model.evaluated`` record.
        system_prompt: The site's own system prompt to evaluate under, if it uses one.
        on_progress: Called after each step (from this thread).
        cancel: Set it to stop; the result is then ``cancelled`` and nothing is kept.
        key: The audit HMAC key when the keyring cannot give it.

    Raises:
        ModelError: the model is missing, damaged or not allowed by the allowlist.
        SuiteError, UnknownSuite: a suite cannot be used.
        AuditUnavailable: auditing is required and the record cannot be written.
    """
    chosen = list(suites) if suites is not None else select_suites([], site_dirs(policy))
    settings = settings or Settings.load(paths, policy)
    registry = ModelRegistry(paths)
    model_ref = model_ref or registry.active_model_id(policy, settings)
    found = registry.find(model_ref)
    sha256 = registry.sha256(found)
    run = _Run(paths, policy, chosen, on_progress, cancel or threading.Event())
    chat = ChatService(registry, policy=policy, options=engine_options(settings),
                       params=GenerationParams())
    chat.local.evaluating = True
    try:
        run.tell("loading")
        began = time.monotonic()
        info = chat.load_model(model_ref)
        run.perf.load_s = time.monotonic() - began
        run.perf.context_length = info.context_length
        model = _model_block(registry, found, sha256)
        run.perf.context_length_trained = int(model["context_length_trained"] or 0)
        run.perf.memory_total = int(machine.describe()["memory_bytes"])
        chat.documents = run.index_documents()
        if not run.run_items(chat, system_prompt):
            _record(audit, model, None, f"cancelled after {run.done} of {run.total} items")
            return EvaluationResult(None, None, cancelled=True, done=run.done, total=run.total)
        body = _body(run, chat, model, thresholds(policy, chosen), system_prompt)
    finally:
        chat.close()
        run.cleanup()
    report = seal(body, report_key(key))
    _record(audit, model, report, None)
    path = ReportStore(paths).save(report, render.markdown(report), render.html_page(report))
    run.tell("done")
    return EvaluationResult(report, path, done=run.done, total=run.total)


def _record(audit: AuditSink | None, model: dict[str, Any], report: dict[str, Any] | None,
            stopped: str | None) -> None:
    if audit is None:
        return
    who = {"id": model["id"], "sha256": model["sha256"]}
    if report is None:
        audit.record(events.MODEL_EVALUATED, model=who,
                     outcome={"status": events.ERROR, "reason": stopped or "stopped"})
        return
    suites = {s["name"]: {"version": s["version"], "digest": s["digest"], "score": s["score"],
                          "passed": s["passed"]} for s in report["suites"]}
    failed = [n for n, s in suites.items() if not s["passed"]]
    audit.record(
        events.MODEL_EVALUATED, model=who,
        detail={"report_id": report["id"], "report_sha256": report["sha256"],
                "signed": report["signature"] is not None, "passed": report["passed"],
                "llama_build": report["engine"]["llama_build"], "suites": suites},
        outcome={"status": events.OK, "reason": "passed" if report["passed"] else
                 "did not pass: " + ", ".join(failed)},
    )

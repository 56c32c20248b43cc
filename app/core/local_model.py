"""The local model of a session: checked against policy, loaded once, supervised.

Policy decides in two steps before a model loads: its allowlist of digests, then (under
``models.require_approval``) the approval gate, which wants a passing evaluation report or an
administrator's approval file for the digest (``app.core.approval.gate``). A refusal is a
``model.refused`` audit record naming the rule, and a typed error saying what to do.

llama.cpp runs in a supervised engine process (``engines/supervisor.py``), so a crash there
is a sentence here; where that is not supported yet (Windows) the engine runs in this
process, as ``enclave doctor`` says.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from app.core.approval.gate import REQUIRE_KEY, check_approval
from app.core.audit import events
from app.core.engines import engine_process
from app.core.engines.base import ChatEngine, EngineInfo, EngineOptions
from app.core.engines.fallback import FallbackMemory
from app.core.engines.supervisor import CrashReport, SupervisedEngine, stop_spare
from app.core.models.errors import ModelBlocked
from app.core.models.registry import ModelRegistry, ResolvedModel
from app.core.ports import AuditSink, ModelGate


class ModelNotApproved(ModelBlocked):
    """Policy requires an evaluation report (or an administrator's approval) the model lacks."""


class LocalModel:
    """Holds the loaded local engine; one model at a time, swapped under a lock.

    Args:
        registry: Where models are found and checked.
        audit: Receives ``model.refused`` and ``engine.crashed``.
        policy: Decides whether a model may load (its allowlist).
        options: How the engine runs (context, threads, GPU layers…).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        audit: AuditSink | None,
        policy: ModelGate | None,
        options: EngineOptions,
    ) -> None:
        self.registry = registry
        self.audit = audit
        self.policy = policy
        self.options = options
        self.default_model_id: str | None = None  # None: the catalog's default
        self.conversation_id: int | None = None  # the turn answering now, for a crash record
        self.allowed: Any = None  # what allowed the model: the allowlist's or the gate's decision
        # Set by an evaluation run: evaluating is how a model earns approval, so the approval
        # gate is set aside for it (never the allowlist).
        self.evaluating = False
        self._engine: ChatEngine | None = None
        self._resolved: ResolvedModel | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> ChatEngine | None:
        """The loaded engine, if any."""
        return self._engine

    @property
    def fallbacks(self) -> FallbackMemory:
        """The safe engine settings remembered after crashes (per model, build, machine)."""
        return FallbackMemory(self.registry.paths.data_dir / "engine-fallbacks.json")

    def load(
        self, model_id: str | None = None, on_progress: Callable[[float], bool] | None = None
    ) -> EngineInfo:
        """Check and load a model (``None``: the default), replacing any loaded one.

        Raises:
            ModelError: not installed, damaged, digest mismatch, blocked by policy, load failed.
        """
        with self._lock:
            resolved = self.registry.resolve(model_id or self.default_model_id)
            self._authorize(resolved)
            if self._engine is not None and self._resolved is not None:
                if self._resolved.sha256 == resolved.sha256:
                    return self._engine.info
                self._engine.close()
                self._engine = None
            engine = self._start(resolved, on_progress)
            self._engine, self._resolved = engine, resolved
            return engine.info

    def ensure(self) -> ChatEngine:
        """The loaded engine, loading the default model first when none is.

        Raises:
            ModelError: as :meth:`load`.
        """
        if self._engine is None:
            self.load()
        assert self._engine is not None
        return self._engine

    def close(self) -> None:
        """Unload the engine and end a spare engine process."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        stop_spare()

    def _start(
        self, resolved: ResolvedModel, on_progress: Callable[[float], bool] | None
    ) -> ChatEngine:
        # Asked through the module: tests stand in for a platform without it.
        if engine_process.engine_process_supported():
            return SupervisedEngine(
                resolved.model.path, resolved.gguf, model_id=resolved.model.id,
                sha256=resolved.sha256, options=self.options, on_progress=on_progress,
                memory=self.fallbacks, log_file=self.registry.paths.log_file,
                on_crash=self._record_crash,
            )
        # Lazy: llama.cpp in this process only on platforms without the engine process.
        from app.core.engines.local import LocalEngine

        return LocalEngine(
            resolved.model.path, resolved.gguf, model_id=resolved.model.id,
            sha256=resolved.sha256, options=self.options, on_progress=on_progress,
        )

    def _authorize(self, resolved: ResolvedModel) -> None:
        if self.policy is None:
            return
        decision = self.policy.check_model(resolved.sha256)
        self.allowed = decision
        if not decision.allowed:
            self._refuse(resolved, decision.rule, decision.reason)
            raise ModelBlocked(
                f"{resolved.model.display_name} is not allowed here: {decision.reason}",
                f"Rule: {decision.rule}. Ask your administrator, or choose an approved model.",
            )
        if self.evaluating or not self.policy.get(REQUIRE_KEY):
            return
        approval = check_approval(self.registry.paths, self.policy, resolved.sha256,
                                  model_id=resolved.model.id)
        self.allowed = approval
        if not approval.allowed:
            self._refuse(resolved, approval.rule, approval.reason, report=approval.report_id,
                         due=list(approval.due))
            raise ModelNotApproved(f"{resolved.model.display_name} cannot load: {approval.reason}",
                                   approval.hint)

    def _refuse(self, resolved: ResolvedModel, rule: str, reason: str, **detail: Any) -> None:
        if self.audit is not None:
            self.audit.record(
                events.MODEL_REFUSED,
                model={"id": resolved.model.id, "sha256": resolved.sha256},
                policy={"rule": rule},
                outcome={"status": "denied", "reason": reason},
                **({"detail": detail} if detail else {}),
            )

    def _record_crash(self, report: CrashReport) -> None:
        if self.audit is None:
            return
        self.audit.record(
            events.ENGINE_CRASHED,
            conversation_id=self.conversation_id,
            model={"id": report.model_id, "sha256": report.model_sha256},
            detail={"phase": report.phase, "cause": report.cause, "signal": report.signal_name,
                    "settings": report.level, "next_settings": report.next_level,
                    "next": "none" if report.broken else report.next_words},
            outcome={"status": "error", "reason": report.words},
        )

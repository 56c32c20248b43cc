"""Can this installed model be used right now, and if not, why not.

Checks run most fundamental first, and the first failure is the status: the file's bytes
against the catalog or its import record (digest mismatch), the file itself (damaged), the
policy's allowlist (blocked), the approval gate when policy requires approval (blocked: no
passing evaluation report, or one that is due again), a first load in a child process
(damaged: crash, refused, hostile template), then this machine's memory (too large). A file
that passes everything is ``ready`` when the catalog pins its bytes and ``unverified``
otherwise (usable, but nothing approved it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.core.approval.gate import REQUIRE_KEY, check_approval
from app.core.models.errors import ModelFileInvalid, ModelNotFound
from app.core.models.inventory import InstalledModel, ModelInventory
from app.core.models.provenance import (
    UNVERIFIED_HINT,
    Kind,
    mismatch_message,
    unverified_reason,
)

State = Literal["ready", "unverified", "blocked", "digest_mismatch", "damaged", "too_large"]
DEFAULT_CONTEXT = 4096  # EngineSettings.context_length's default


class PolicyView(Protocol):
    """The part of the effective policy a model's status depends on."""

    def check_model(self, sha256: str) -> Any:
        """A ``PolicyDecision`` for a file's digest."""

    def get(self, key: str) -> Any:
        """A policy value (``engine.gpu_allowed``)."""


@dataclass(frozen=True)
class ModelStatus:
    """A model's state and the sentence that explains it.

    Attributes:
        state: ``ready``, ``unverified``, ``blocked``, ``digest_mismatch``, ``damaged`` or
            ``too_large``.
        reason: Why, in words a user understands.
        rule: The policy rule that decided, when policy did.
        hint: What to do about it.
        provenance: What vouches for the bytes (see ``provenance.Provenance.kind``); None
            when the file could not be read.
    """

    state: State
    reason: str
    rule: str | None = None
    hint: str = ""
    provenance: Kind | None = None

    @property
    def usable(self) -> bool:
        """Ready or unverified, or merely larger than the memory free now (may still try)."""
        return self.state in ("ready", "unverified", "too_large")


def evaluate(
    registry: ModelInventory,
    model: InstalledModel,
    policy: PolicyView | None,
    context_length: int | None,
) -> ModelStatus:
    """Compute a model's status; see the module docstring for the order. Never raises."""
    try:
        digest = registry.sha256(model)
    except OSError as exc:
        return ModelStatus("damaged", f"{model.path.name} cannot be read: {exc.strerror or exc}.",
                           hint="Check that the file is still there and readable.")
    prov = registry.provenance(model, digest)
    if not prov.intact:
        message, hint = mismatch_message(model, prov)
        return ModelStatus("digest_mismatch", message, hint=hint, provenance=prov.kind)
    try:
        registry.metadata(model)
    except (ModelFileInvalid, ModelNotFound) as exc:
        return ModelStatus("damaged", exc.message, hint=exc.hint, provenance=prov.kind)
    if policy is not None:
        decision = policy.check_model(digest)
        if not decision.allowed:
            return ModelStatus("blocked", decision.reason, rule=decision.rule,
                               hint=f"Rule: {decision.rule}. Ask your administrator.",
                               provenance=prov.kind)
        if policy.get(REQUIRE_KEY):
            approval = check_approval(registry.paths, policy, digest, model_id=model.id)
            if not approval.allowed:
                return ModelStatus("blocked", approval.reason, rule=approval.rule,
                                   hint=approval.hint, provenance=prov.kind)
    if registry.needs_probe(model, digest):
        probe = registry.probes.probe(digest, model.path)
        if not probe.ok:
            return ModelStatus(
                "damaged", f"{model.path.name} cannot be used: {probe.reason}.",
                hint="Remove it and import a trusted copy.", provenance=prov.kind,
            )
    gpu_allowed = bool(policy.get("engine.gpu_allowed")) if policy is not None else True
    report = registry.fit(model, context_length or DEFAULT_CONTEXT, gpu_allowed=gpu_allowed)
    if not report.fits:
        return ModelStatus("too_large", report.reason,
                           hint="Close other programs, lower the context length, or choose a "
                                "smaller model.", provenance=prov.kind)
    if not prov.verified:
        return ModelStatus("unverified", f"{unverified_reason(prov)} {report.reason}",
                           hint=UNVERIFIED_HINT, provenance=prov.kind)
    return ModelStatus("ready", f"Ready. {report.reason}", provenance=prov.kind)

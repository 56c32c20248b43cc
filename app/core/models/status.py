"""Can this installed model be used right now, and if not, why not.

Checks run cheapest and most fundamental first, and the first failure is the status:
the file itself (damaged), its bytes against the catalog (digest mismatch), the policy's
allowlist (blocked), a first load in a child process (damaged: crash, refused, hostile
template), then this machine's memory (too large).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from app.core.models.errors import ModelFileInvalid, ModelNotFound

if TYPE_CHECKING:
    from app.core.models.registry import InstalledModel, ModelRegistry

State = Literal["ready", "blocked", "digest_mismatch", "damaged", "too_large"]
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
        state: ``ready``, ``blocked``, ``digest_mismatch``, ``damaged`` or ``too_large``.
        reason: Why, in words a user understands.
        rule: The policy rule that decided, when policy did.
        hint: What to do about it.
    """

    state: State
    reason: str
    rule: str | None = None
    hint: str = ""

    @property
    def usable(self) -> bool:
        """Ready, or merely larger than the memory free now (the user may still try)."""
        return self.state in ("ready", "too_large")


def evaluate(
    registry: ModelRegistry,
    model: InstalledModel,
    policy: PolicyView | None,
    context_length: int | None,
) -> ModelStatus:
    """Compute a model's status; see the module docstring for the order. Never raises."""
    try:
        registry.metadata(model)
        digest = registry.sha256(model)
    except (ModelFileInvalid, ModelNotFound) as exc:
        return ModelStatus("damaged", exc.message, hint=exc.hint)
    except OSError as exc:
        return ModelStatus("damaged", f"{model.path.name} cannot be read: {exc.strerror or exc}.",
                           hint="Check the file's permissions.")
    pinned = model.catalog
    if pinned is not None and digest != pinned.sha256:
        return ModelStatus(
            "digest_mismatch",
            f"{model.path.name} is not the approved file: its sha256 is {digest[:12]}…, "
            f"the catalog approves {pinned.sha256[:12]}….",
            hint="Delete the file and run `enclave models provision` to restore the approved "
                 "copy.",
        )
    if policy is not None:
        decision = policy.check_model(digest)
        if not decision.allowed:
            return ModelStatus("blocked", decision.reason, rule=decision.rule,
                               hint=f"Rule: {decision.rule}. Ask your administrator.")
    if registry.needs_probe(model, digest):
        probe = registry.probes.probe(digest, model.path)
        if not probe.ok:
            return ModelStatus(
                "damaged", f"{model.path.name} cannot be used: {probe.reason}.",
                hint="Remove it and import a trusted copy.",
            )
    gpu_allowed = bool(policy.get("engine.gpu_allowed")) if policy is not None else True
    report = registry.fit(model, context_length or DEFAULT_CONTEXT, gpu_allowed=gpu_allowed)
    if not report.fits:
        return ModelStatus("too_large", report.reason,
                           hint="Close other programs, lower the context length, or choose a "
                                "smaller model.")
    return ModelStatus("ready", f"Ready. {report.reason}")

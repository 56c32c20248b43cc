"""Managing installed models: what a Models page or ``enclave models`` shows, and its actions.

One row per installed model says everything a person needs to choose: family, size,
quantization, licence, whether the catalog verified the bytes, what the policy (and the
approval gate) decided, whether it fits this machine, and which actions are allowed, each
refusal with its reason. The actions (import with progress and cancel, remove, set default,
roll back) are recorded in the audit log here, so the GUI and the CLI cannot differ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.core.approval.gate import REQUIRE_KEY
from app.core.audit import events
from app.core.errors import EnclaveError
from app.core.models.catalog import default_entry
from app.core.models.choices import ModelChoice, described
from app.core.models.errors import ModelBlocked, ModelError
from app.core.models.hardware import FitReport
from app.core.models.importer import ImportRefused, ImportResult
from app.core.models.inventory import InstalledModel
from app.core.models.registry import ModelRegistry
from app.core.models.status import DEFAULT_CONTEXT, PolicyView

FitKind = Literal["gpu", "partial", "cpu", "too_large", "unknown"]
FIT_LABELS: dict[FitKind, str] = {
    "gpu": "Runs on GPU", "partial": "Runs on GPU and CPU", "cpu": "Runs on CPU",
    "too_large": "Too large for this machine's memory", "unknown": "Unknown",
}
RESTRICTED_RULE = "restricted-mode"
Recorder = Callable[..., object]  # ``AuditLog.record(event, **fields)``


class ImportCancelled(ModelError):
    """The user cancelled an import; the partial copy was removed."""


@dataclass(frozen=True)
class Refusal:
    """Whether an action may be taken, and if not, why (in a user's words)."""

    allowed: bool
    reason: str = ""
    rule: str = ""


ALLOWED = Refusal(True)


@dataclass(frozen=True)
class Fit:
    """Where the model would run on this machine, and the sentence that explains it."""

    kind: FitKind
    reason: str

    @property
    def label(self) -> str:
        """Short text for a column: ``Runs on GPU``."""
        return FIT_LABELS[self.kind]


@dataclass(frozen=True)
class ModelRow:
    """One installed model with everything a Models page shows and may do with it."""

    choice: ModelChoice
    family: str
    quantization: str
    licence: str
    licence_url: str
    policy: str  # ``Allowed``, ``Approved`` or ``Refused``: the policy and approval gate
    fit: Fit
    is_default: bool
    load: Refusal
    make_default: Refusal
    remove: Refusal

    @property
    def id(self) -> str:
        """The model's id."""
        return self.choice.id


def fit_of(report: FitReport) -> Fit:
    """Where a model runs, from the hardware check's report."""
    if not report.fits:
        return Fit("too_large", report.reason)
    if report.gpu_layers_suggested <= 0:
        return Fit("cpu", report.reason)
    if report.reason.startswith("The whole model") or "GPU memory size unknown" in report.reason:
        return Fit("gpu", report.reason)
    return Fit("partial", report.reason)


def _fit(registry: ModelRegistry, model: InstalledModel, policy: PolicyView | None,
         context: int) -> Fit:
    gpu_allowed = bool(policy.get("engine.gpu_allowed")) if policy is not None else True
    try:
        return fit_of(registry.fit(model, context, gpu_allowed=gpu_allowed))
    except (EnclaveError, OSError) as exc:
        return Fit("unknown", getattr(exc, "message", str(exc)))


def active_id(registry: ModelRegistry, policy: Any | None, settings: Any | None) -> str:
    """The model new chats use: the user's or the policy's choice, else the catalog default."""
    return registry.active_model_id(policy, settings) or default_entry().id


def removal(registry: ModelRegistry, model: InstalledModel) -> Refusal:
    """Whether the user may delete a model: only their own imports, in their own directory."""
    try:
        own = model.path.resolve().parent == registry.paths.user_models_dir.resolve()
    except OSError:
        own = False
    if model.location == "site" or not own:
        return Refusal(False, f"{model.display_name} is installed machine-wide by your IT "
                       "department; Enclave cannot remove it.")
    return ALLOWED


def _licence(registry: ModelRegistry, model: InstalledModel) -> tuple[str, str]:
    if model.catalog is not None and model.catalog.license:
        return model.catalog.license, model.catalog.license_url or ""
    try:
        found = registry.metadata(model).license
    except (EnclaveError, OSError):
        found = None
    return (found or "Not stated"), ""


def _quantization(registry: ModelRegistry, model: InstalledModel, choice: ModelChoice) -> str:
    try:
        found = registry.metadata(model).quantization
    except (EnclaveError, OSError):
        found = None
    return found or choice.quantization


def _policy_label(choice: ModelChoice, policy: PolicyView | None) -> str:
    if choice.state == "blocked":
        return "Refused"
    if choice.state in ("damaged", "digest_mismatch"):
        return "Not checked"
    return "Approved" if policy is not None and policy.get(REQUIRE_KEY) else "Allowed"


def _load_refusal(choice: ModelChoice) -> Refusal:
    if choice.usable:
        return ALLOWED
    return Refusal(False, choice.reason or f"It cannot be used ({choice.state}).", choice.rule)


def _default_refusal(choice: ModelChoice, settings: Any | None) -> Refusal:
    if settings is not None:
        state = settings.state("models.default")
        if state.locked:
            return Refusal(False, "Your organization chooses the model for new chats "
                           f"(set in {state.source}).", "managed:models.default")
    return _load_refusal(choice)


def model_row(registry: ModelRegistry, model: InstalledModel, policy: PolicyView | None,
              settings: Any | None, families: dict[str, str], active: str) -> ModelRow:
    """Everything about one installed model (never raises: a damaged file says why)."""
    context = int(settings.get("engine.context_length")) if settings is not None else None
    choice = described(registry, model, policy, context)
    licence, url = _licence(registry, model)
    return ModelRow(
        choice=choice, family=families.get(model.id, model.path.stem),
        quantization=_quantization(registry, model, choice), licence=licence, licence_url=url,
        policy=_policy_label(choice, policy),
        fit=_fit(registry, model, policy, context or DEFAULT_CONTEXT),
        is_default=model.id == active, load=_load_refusal(choice),
        make_default=_default_refusal(choice, settings), remove=removal(registry, model),
    )


def model_rows(registry: ModelRegistry, policy: PolicyView | None,
               settings: Any | None) -> list[ModelRow]:
    """Every installed model, site first (slow: hashes and checks files; run off the GUI)."""
    try:
        models = registry.installed()
        families = registry.families_by_id()
    except (OSError, EnclaveError):
        return []
    active = active_id(registry, policy, settings)
    return [model_row(registry, m, policy, settings, families, active) for m in models]


def can_roll_back(registry: ModelRegistry, settings: Any | None) -> Refusal:
    """Whether there is a previous default to go back to, still installed."""
    if settings is not None and settings.state("models.default").locked:
        return Refusal(False, "Your organization chooses the model for new chats.",
                       "managed:models.default")
    previous = registry.default_history().previous
    if previous is None:
        return Refusal(False, "There is no previous model to go back to.")
    if registry.find_by_sha256(previous) is None:
        return Refusal(False, "The model used before is no longer installed.")
    return ALLOWED


def import_allowed(policy: Any | None) -> Refusal:
    """Whether the policy lets the user add model files (never in restricted mode)."""
    if policy is not None and getattr(policy, "restricted", False):
        reasons = "; ".join(getattr(policy, "restricted_reasons", []))
        return Refusal(False, "Enclave is in restricted mode (the machine policy could not be "
                       f"read), so no model can be imported. {reasons}".strip(),
                       RESTRICTED_RULE)
    return ALLOWED


def import_file(registry: ModelRegistry, source: Path, policy: Any | None, *,
                progress: Callable[[int, int], None] | None = None,
                cancel: threading.Event | None = None,
                audit: Recorder | None = None) -> ImportResult:
    """Import a GGUF file (see ``importer``); ``cancel`` stops it, leaving nothing.

    ``audit`` (``AuditLog.record``) is told of each import and refusal (not of a cancel).

    Raises:
        ImportRefused: restricted mode, or the importer's own refusals.
        ImportCancelled: ``cancel`` was set during the copy or before it.
        ModelError: the file is not a usable GGUF model (nothing is left behind).
    """
    allowed = import_allowed(policy)
    if not allowed.allowed:
        _audit(audit, events.MODEL_REFUSED, detail={"file": str(source)},
               outcome={"status": "denied", "reason": allowed.reason})
        raise ImportRefused(allowed.reason, "Ask your administrator to repair the policy.")

    def report(done: int, total: int) -> None:
        if cancel is not None and cancel.is_set():  # unwinds the copy, which removes it
            raise ImportCancelled(f"Importing {source.name} was cancelled; nothing was added.")
        if progress is not None:
            progress(done, total)

    try:
        report(0, 1)
        result = registry.import_model(source, progress=report)
    except ImportCancelled:
        raise
    except EnclaveError as exc:
        _audit(audit, events.MODEL_REFUSED, detail={"file": str(source)},
               outcome={"status": "denied", "reason": exc.message})
        raise
    if cancel is not None and cancel.is_set():  # cancelled after the copy: undo the install
        registry.remove(result.model.id)
        raise ImportCancelled(f"Importing {source.name} was cancelled; nothing was added.")
    status = registry.status(result.model, policy)
    _audit(audit, events.MODEL_IMPORTED, model={"id": result.model.id, "sha256": result.sha256},
           detail={"file": str(source), "provenance": status.provenance},
           outcome={"status": "ok", "reason": "imported"})
    return result


def remove_model(registry: ModelRegistry, model_id: str, policy: Any | None,
                 settings: Any | None) -> tuple[InstalledModel, bool]:
    """Delete one of the user's own models; returns it and whether it was the default.

    Raises:
        ModelNotFound: not installed.
        ModelBlocked: a machine-wide model (IT's), which Enclave never deletes.
    """
    model = registry.find(model_id)
    refused = removal(registry, model)
    if not refused.allowed:
        raise ModelBlocked(refused.reason, "Ask IT to remove it, or choose another model.")
    was_active = registry.active_model_id(policy, settings) == model.id
    registry.remove(model.id)
    return model, was_active


def _audit(audit: Recorder | None, event: str, **fields: object) -> None:
    if audit is not None:
        audit(event, **fields)

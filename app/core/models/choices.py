"""The installed models, described for people: what the policy allows, and why not.

Both faces draw :class:`ModelChoice`: the GUI's model picker the allowed ones
(:func:`model_choices`, hashing only), ``enclave models list`` every model with its full
status (:func:`model_overview`, blocked and damaged ones too). The facts (allowed by which
rule, verified against the catalog, quantization, size) are worked out here, once, without Qt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.approval.gate import REQUIRE_KEY, check_approval
from app.core.errors import EnclaveError
from app.core.models.inventory import InstalledModel, ModelInventory
from app.core.models.status import ModelStatus, PolicyView, evaluate

_QUANT = re.compile(r"(?i)(?:^|[._-])((?:I?Q\d+(?:_[A-Z0-9]+)*)|F16|BF16|F32)(?:[._-]|$)")


@dataclass(frozen=True)
class ModelChoice:
    """One installed model, as a face shows it.

    Attributes:
        id: The registry's id (the catalog id when the catalog pins the bytes).
        name: A name for people.
        size: The file's size in bytes.
        quantization: The quantization named in the file name (``Q4_K_M``), or ``"?"``.
        verified: Whether the file's SHA-256 matches the approved catalog's pin.
        sha256: The file's digest.
        rule: The policy rule that allowed or blocked it (empty when no policy was asked).
        state: ``ModelStatus.state`` (``ready``, ``unverified``, ``blocked``, ``damaged``,
            ``digest_mismatch``, ``too_large``); the picker's choices are never ``blocked``.
        reason: Why it is in that state, in words a user understands.
        hint: What to do about it.
        location: ``site`` (installed by IT) or ``user`` (imported).
        path: Where the file is.
    """

    id: str
    name: str
    size: int
    quantization: str
    verified: bool
    sha256: str
    rule: str = ""
    state: str = "ready"
    reason: str = ""
    hint: str = ""
    location: str = ""
    path: str = ""
    provenance: str | None = None

    @property
    def usable(self) -> bool:
        """Whether loading it may be tried (see ``ModelStatus.usable``)."""
        return self.state in ("ready", "unverified", "too_large")


def quantization_of(file_name: str) -> str:
    """The quantization named in a GGUF file name (``Q4_1``), or ``"?"``."""
    match = _QUANT.search(file_name.removesuffix(".gguf"))
    return match.group(1).upper() if match else "?"


def _describe(model: InstalledModel, digest: str, rule: str,
              status: ModelStatus | None = None) -> ModelChoice:
    pinned = model.catalog
    verified = (status.provenance == "catalog" if status is not None
                else pinned is not None and pinned.sha256 == digest)
    return ModelChoice(
        id=model.id, name=model.display_name, size=model.size,
        quantization=quantization_of(model.path.name), verified=verified, sha256=digest,
        rule=rule, state=status.state if status is not None else "ready",
        reason=status.reason if status is not None else "",
        hint=status.hint if status is not None else "", location=model.location,
        path=str(model.path), provenance=status.provenance if status is not None else None,
    )


def _installed(registry: ModelInventory) -> list[InstalledModel]:
    try:
        return list(registry.installed())
    except (OSError, EnclaveError):  # an unreadable directory lists nothing
        return []


def model_choices(registry: ModelInventory, policy: PolicyView | None) -> list[ModelChoice]:
    """Installed models the policy allows, in the registry's order (hashes every file).

    Args:
        registry: Where the models are (``ModelRegistry``).
        policy: The effective policy; ``None`` offers every readable model.

    Returns:
        One choice per allowed, readable model. An unreadable directory lists nothing and an
        unreadable file is left out: neither could be loaded.
    """
    choices: list[ModelChoice] = []
    for model in _installed(registry):
        try:
            digest = registry.sha256(model)
        except (OSError, EnclaveError):
            continue
        rule = ""
        if policy is not None:
            decision = policy.check_model(digest)
            if not decision.allowed:
                continue
            rule = str(decision.rule)
            if policy.get(REQUIRE_KEY):  # the approval gate: no passing report, no choice
                approval = check_approval(registry.paths, policy, digest, model_id=model.id)
                if not approval.allowed:
                    continue
                rule = str(approval.rule)
        choices.append(_describe(model, digest, rule))
    return choices


def model_overview(registry: ModelInventory, policy: PolicyView | None,
                   context_length: int | None = None) -> list[ModelChoice]:
    """Every installed model with its full status, blocked and unreadable ones included.

    Slower than :func:`model_choices`: each model's metadata is parsed in a limited child
    process and an unpinned file gets its first-load probe (once per file).
    """
    return [described(registry, m, policy, context_length) for m in _installed(registry)]


def described(registry: ModelInventory, model: InstalledModel, policy: PolicyView | None,
              context_length: int | None = None) -> ModelChoice:
    """One installed model with its full status (see :func:`model_overview`). Never raises."""
    status = evaluate(registry, model, policy, context_length)
    try:
        digest = registry.sha256(model)
    except (OSError, EnclaveError):
        digest = ""
    rule = status.rule or ""
    if not rule and policy is not None and digest:
        rule = str(policy.check_model(digest).rule)
    return _describe(model, digest, rule, status)

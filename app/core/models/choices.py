"""The models a user may pick: what the policy allows, described for people.

The GUI's model picker draws these; the facts (allowed by which rule, verified against the
catalog, quantization, size) are worked out here, once, without Qt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.errors import EnclaveError
from app.core.models.inventory import ModelInventory
from app.core.models.status import PolicyView

_QUANT = re.compile(r"(?i)(?:^|[._-])((?:I?Q\d+(?:_[A-Z0-9]+)*)|F16|BF16|F32)(?:[._-]|$)")


@dataclass(frozen=True)
class ModelChoice:
    """One model the policy allows on this computer.

    Attributes:
        id: The registry's id (the catalog id when the catalog pins the bytes).
        name: A name for people.
        size: The file's size in bytes.
        quantization: The quantization named in the file name (``Q4_K_M``), or ``"?"``.
        verified: Whether the file's SHA-256 matches the approved catalog's pin.
        sha256: The file's digest.
        rule: The policy rule that allowed it (empty when no policy was asked).
    """

    id: str
    name: str
    size: int
    quantization: str
    verified: bool
    sha256: str
    rule: str = ""


def quantization_of(file_name: str) -> str:
    """The quantization named in a GGUF file name (``Q4_1``), or ``"?"``."""
    match = _QUANT.search(file_name.removesuffix(".gguf"))
    return match.group(1).upper() if match else "?"


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
    try:
        installed = registry.installed()
    except (OSError, EnclaveError):
        installed = []
    for model in installed:
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
        pinned = model.catalog
        choices.append(ModelChoice(
            id=model.id, name=model.display_name, size=model.size,
            quantization=quantization_of(model.path.name),
            verified=pinned is not None and pinned.sha256 == digest,
            sha256=digest, rule=rule,
        ))
    return choices

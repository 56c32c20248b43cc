"""Model families, the user's active model, and going back to the one used before.

A family groups versions of one model. Only the catalog's digest puts a file in an approved
family: a file's metadata is its own claim, so a file the catalog does not pin is listed under
the family it claims, marked unverified (``smollm2-135m-instruct (unverified)``).

Where things are kept:

- The active model is the user setting ``models.default`` (``app.core.settings``), holding the
  file's SHA-256: a digest names exact bytes, so a renamed or replaced file is never picked up
  by mistake. A managed policy ``models.default`` wins over it and cannot be changed here.
- The one used before lives in ``<config_dir>/models-state.json`` (``{"current", "previous"}``,
  both digests), because settings hold one value per key and rollback needs two.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.models.errors import (
    ModelBlocked,
    ModelDigestMismatch,
    ModelError,
    ModelFileInvalid,
    ModelNotFound,
)
from app.core.models.inspect import GGUFInfo
from app.core.models.inventory import InstalledModel, ModelInventory
from app.core.models.provenance import unverified_family
from app.core.models.status import evaluate
from app.core.settings import SettingLocked, Settings

log = logging.getLogger(__name__)

STATE_FILE = "models-state.json"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def slug(text: str) -> str:
    """Lower-case words joined by dashes: ``SmolLM2 135M`` -> ``smollm2-135m``."""
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")


def metadata_family(info: GGUFInfo) -> str | None:
    """The family a GGUF file names itself: ``general.basename`` (else name) + size label."""
    base = info.basename or info.name
    if not base:
        return None
    family = slug(base)
    label = slug(info.size_label or "")
    if label and label not in family.split("-"):
        family = f"{family}-{label}"
    return family or None


def is_sha256(text: str | None) -> bool:
    """Whether a string is a lower-case hex SHA-256 digest."""
    return bool(text) and SHA256_RE.match(text or "") is not None


def family_map(registry: ModelInventory) -> dict[str, str]:
    """Every installed model's family, by model id.

    A model whose bytes the catalog pins takes the catalog's family. Any other file takes what
    its metadata names, mapped to the approved family of the same name (another quantisation
    or re-conversion of an approved model), and always marked unverified.
    """
    models = registry.installed()
    meta: dict[str, str | None] = {}
    pinned: dict[str, str | None] = {}
    alias: dict[str, str] = {}
    for model in models:
        try:
            meta[model.id] = metadata_family(registry.metadata(model))
        except (ModelError, OSError):
            meta[model.id] = None
        try:
            prov = registry.provenance(model)
        except OSError:
            prov = None
        entry = prov.entry if prov is not None and prov.verified else None
        pinned[model.id] = entry.family if entry is not None else None
        found = meta[model.id]
        if entry is not None and found:
            alias.setdefault(found, entry.family)
    result: dict[str, str] = {}
    for model in models:
        approved, found = pinned[model.id], meta[model.id]
        if approved is not None:
            result[model.id] = approved
        else:
            result[model.id] = unverified_family(alias.get(found, found) if found
                                                 else model.path.stem)
    return result


@dataclass(frozen=True)
class DefaultHistory:
    """The active model's digest and the one active before it."""

    current: str | None = None
    previous: str | None = None


def state_file(config_dir: Path) -> Path:
    """Where the history lives."""
    return config_dir / STATE_FILE


def read_history(config_dir: Path) -> DefaultHistory:
    """Read the history; a missing or damaged file is an empty history."""
    try:
        raw = json.loads(state_file(config_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DefaultHistory()
    if not isinstance(raw, dict):
        return DefaultHistory()
    current, previous = raw.get("current"), raw.get("previous")
    return DefaultHistory(
        current if isinstance(current, str) and is_sha256(current) else None,
        previous if isinstance(previous, str) and is_sha256(previous) else None,
    )


def write_history(config_dir: Path, history: DefaultHistory) -> None:
    """Write the history atomically.

    Raises:
        OSError: the file cannot be written.
    """
    config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".models-state-", dir=config_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"current": history.current, "previous": history.previous}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, state_file(config_dir))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- the active model -------------------------------------------------------------------


def _installed_id(registry: ModelInventory, value: str) -> str | None:
    """The id of the installed model a setting names (digest, id or file name)."""
    digest = value.strip().lower()
    if is_sha256(digest):
        found = registry.find_by_sha256(digest)
        return found.id if found else None
    try:
        return registry.find(value).id
    except (ModelNotFound, ModelFileInvalid):
        return None


def active_model_id(
    registry: ModelInventory, policy: Any | None, settings: Settings | None
) -> str | None:
    """See ``ModelRegistry.active_model_id``."""
    if policy is not None and policy.locked("models.default"):
        pinned = policy.get("models.default")
        if isinstance(pinned, str) and pinned:
            return _installed_id(registry, pinned) or pinned
    value = settings.get("models.default") if settings is not None else None
    if isinstance(value, str) and value:
        found = _installed_id(registry, value)
        if found is not None:
            return found
        log.warning("models.default names a model that is not installed; using the default")
    return None


def _active_digest(
    registry: ModelInventory, policy: Any | None, settings: Settings
) -> str | None:
    try:
        model = registry.find(active_model_id(registry, policy, settings))
        return registry.sha256(model)
    except (ModelNotFound, ModelFileInvalid, OSError):
        return None


def set_default(
    registry: ModelInventory, model_id: str, settings: Settings, policy: Any | None
) -> InstalledModel:
    """See ``ModelRegistry.set_default``."""
    state = settings.state("models.default")
    if state.locked:
        raise SettingLocked(
            "models.default is managed by your organization: the model for new chats is set "
            "by policy.",
            f"It is set in {state.source}; ask your administrator to change it.",
        )
    model = registry.find(model_id)
    if model not in registry.installed():
        raise ModelNotFound(
            f"{model.path} is not an installed model.",
            f"Import it first: `enclave models import {model.path}`.",
        )
    status = evaluate(registry, model, policy, None)
    if not status.usable:
        error = {"blocked": ModelBlocked, "digest_mismatch": ModelDigestMismatch}.get(
            status.state, ModelFileInvalid
        )
        raise error(f"{model.display_name} cannot be the default: {status.reason}", status.hint)
    digest = registry.sha256(model)
    before = _active_digest(registry, policy, settings)
    history = read_history(registry.paths.config_dir)
    settings.set("models.default", digest)
    previous = before if before and before != digest else history.previous
    try:
        write_history(registry.paths.config_dir, DefaultHistory(digest, previous))
    except OSError as exc:
        log.warning("cannot record the previous model: %s", exc)
    return model


def restore_previous(
    registry: ModelInventory, settings: Settings, policy: Any | None
) -> InstalledModel:
    """See ``ModelRegistry.restore_previous``."""
    history = read_history(registry.paths.config_dir)
    if history.previous is None:
        raise ModelNotFound(
            "There is no previous model to go back to.",
            "Choose a model with `enclave models default ID`.",
        )
    model = registry.find_by_sha256(history.previous)
    if model is None:
        raise ModelNotFound(
            f"The model used before (sha256 {history.previous[:12]}…) is no longer installed.",
            "Import it again, or choose a model with `enclave models default ID`.",
        )
    return set_default(registry, model.id, settings, policy)

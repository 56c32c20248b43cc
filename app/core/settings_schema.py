"""What a setting may be: the settings file's schema, bounds, limits policy puts on it.

The one place that says what each setting may hold — its type, its bounds, and the limits a
policy key puts on a setting it does not share a name with (``engine.max_context`` caps
``engine.context_length``). ``settings.py`` layers the user's values under policy with it;
:func:`validate_generation` checks one turn's sampling overrides against the same bounds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.errors import EnclaveError, ExitCode
from app.core.policy import EffectivePolicy
from app.core.policy.schema import KeySpec, iter_keys

SETTINGS_VERSION = 1
# ``SETTINGS_MIGRATIONS[n]`` turns a version-``n`` settings file into a version-``n + 1`` one,
# as ``policy.migrations.MIGRATIONS`` does for policy files. Version 1 is the first, so the
# table is empty. A migrated file is written back at the current version on the next change.
SETTINGS_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
# The largest context any GGUF model declares today is 1M tokens; more is a typo.
MAX_CONTEXT = 1_048_576
SETTINGS_FILE = "settings.json"

Level = Literal["managed", "user", "recommended", "default"]


class SettingsError(EnclaveError):
    """The settings file or a setting value is not usable."""


class UnknownSetting(SettingsError):
    """No setting has that name."""


class InvalidSettingValue(SettingsError):
    """The value does not fit the setting's type or range."""


class SettingLocked(SettingsError):
    """The administrator's policy manages this setting."""

    exit_code = ExitCode.SETTINGS


@dataclass(frozen=True)
class SettingState:
    """The effective value of one setting and why it has it."""

    value: Any
    locked: bool
    level: Level
    source: str


@dataclass(frozen=True)
class PolicyLimit:
    """A limit a policy key puts on a setting, declared in the setting's ``Annotated`` type.

    Attributes:
        policy_key: The policy key that sets the limit.
    """

    policy_key: str

    def apply(self, policy: EffectivePolicy, state: SettingState) -> SettingState:
        """The setting's state once the limit is applied."""
        raise NotImplementedError

    def check(self, policy: EffectivePolicy, key: str, value: Any) -> None:
        """Refuse a value the user may not set while the limit holds.

        Raises:
            SettingLocked: the value is beyond what the administrator allows.
        """


@dataclass(frozen=True)
class CappedBy(PolicyLimit):
    """A positive value of the policy key is the largest the setting may be; 0 is no cap.

    A larger value the user chose stays in their file; while the cap holds, the setting reads
    as the cap (level ``managed``), and setting a larger one is refused.
    """

    def _cap(self, policy: EffectivePolicy) -> int:
        cap = policy.get(self.policy_key)
        return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else 0

    def apply(self, policy: EffectivePolicy, state: SettingState) -> SettingState:
        """The cap, when the value would exceed it."""
        cap = self._cap(policy)
        if cap and state.value > cap:
            return SettingState(cap, False, "managed", policy.entry(self.policy_key).source)
        return state

    def check(self, policy: EffectivePolicy, key: str, value: Any) -> None:
        """Refuse a value above the cap."""
        cap = self._cap(policy)
        if cap and value > cap:
            raise SettingLocked(
                f"{key} above {cap} is managed by your organization",
                f"Choose {cap} or less; {self.policy_key} is set by your administrator.",
            )


@dataclass(frozen=True)
class OffUnless(PolicyLimit):
    """While the policy key (a switch) is false, the setting is ``off``.

    It is locked when the administrator manages the switch. Under a recommended ``false`` the
    user may still store their own value, which applies once the switch is turned on.
    """

    off: Any = None

    def apply(self, policy: EffectivePolicy, state: SettingState) -> SettingState:
        """``off``, when the switch is false."""
        if policy.get(self.policy_key):
            return state
        source = policy.entry(self.policy_key).source
        return SettingState(self.off, policy.locked(self.policy_key), "managed", source)


class _Section(BaseModel):
    # NaN and infinity compare false with every bound, so they would slip past ge/le.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class GenerationSettings(_Section):
    """How the model writes its answers."""

    temperature: float = Field(default=0.7, ge=0, le=2, description="Sampling temperature.")
    top_p: float = Field(default=0.95, gt=0, le=1, description="Nucleus sampling threshold.")
    top_k: int = Field(
        default=40, ge=0, le=1_000_000, description="Sample from the k likeliest tokens; 0 = all."
    )
    max_tokens: int = Field(
        default=512, ge=1, le=MAX_CONTEXT, description="Longest answer, in tokens."
    )
    # llama.cpp keeps the seed in 32 bits.
    seed: int = Field(
        default=-1, ge=-1, le=2**32 - 1, description="Random seed; -1 picks a new one each time."
    )


class EngineSettings(_Section):
    """How the local engine runs."""

    context_length: Annotated[int, CappedBy("engine.max_context")] = Field(
        default=4096, ge=256, le=MAX_CONTEXT, description="Context window, in tokens."
    )
    gpu_layers: Annotated[int, OffUnless("engine.gpu_allowed", off=0)] = Field(
        default=-1, ge=-1, le=10_000, description="Layers offloaded to GPU; -1 = auto."
    )
    threads: int = Field(
        default=0, ge=0, le=1024,
        description="CPU threads for the local engine; 0 = adaptive, up to one per physical core.",
    )
    cpu_repacking: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="llama.cpp's repacked CPU kernels (AMX and others); auto = off on a CPU "
        "with AMX, where they crash (llama.cpp#20824), on elsewhere.",
    )


class UiSettings(_Section):
    """How the window looks."""

    theme: Literal["system", "light", "dark"] = Field(
        default="system", description="Colour theme: system, light or dark."
    )
    font_size: int = Field(default=11, ge=6, le=48, description="Font size of the chat, in pt.")


class HistorySettings(_Section):
    """How long conversations are kept."""

    retention_days: int = Field(
        default=0, ge=0, le=365_000,
        description="Delete conversations older than this; 0 keeps them forever.",
    )


class ModelsSettings(_Section):
    """Which model a new chat uses."""

    default: str | None = Field(default=None, description="Model selected for new chats.")


class SettingsDocument(_Section):
    """The user's settings file."""

    schema_version: int = Field(default=SETTINGS_VERSION, description="Settings file version.")
    generation: GenerationSettings = Field(
        default_factory=GenerationSettings, description="Answer generation."
    )
    engine: EngineSettings = Field(default_factory=EngineSettings, description="Local engine.")
    ui: UiSettings = Field(default_factory=UiSettings, description="Appearance.")
    history: HistorySettings = Field(default_factory=HistorySettings, description="History.")
    models: ModelsSettings = Field(default_factory=ModelsSettings, description="Models.")


SETTING_KEYS: dict[str, KeySpec] = {spec.key: spec for spec in iter_keys(SettingsDocument)}
"""Every setting, by dotted name."""


def policy_limits(spec: KeySpec) -> tuple[PolicyLimit, ...]:
    """The limits policy keys put on a setting, as its field declares them."""
    return tuple(meta for meta in spec.info.metadata if isinstance(meta, PolicyLimit))


def validate_value(spec: KeySpec, value: Any) -> Any:
    """The validated JSON value, or raise InvalidSettingValue."""
    try:
        model = spec.section.model_validate({spec.field: value})
    except ValidationError as exc:
        reason = "; ".join(err["msg"] for err in exc.errors(include_url=False))
        raise InvalidSettingValue(
            f"{value!r:.60} is not a valid value for {spec.key}: {reason}.",
            f"{spec.key}: {spec.description} Default: {json.dumps(spec.default())}.",
        ) from None
    return model.model_dump(mode="json")[spec.field]


def validate_generation(**changes: Any) -> dict[str, Any]:
    """Check one turn's sampling overrides against the same bounds as the settings.

    ``enclave ask --temperature``, the GUI and a local API client all pass through here, so a
    value ``settings set`` refuses is refused everywhere. ``None`` means "not overridden".

    Raises:
        InvalidSettingValue: naming the first value out of bounds.
    """
    return {
        name: validate_value(spec_for(f"generation.{name}"), value)
        for name, value in changes.items()
        if value is not None
    }


def spec_for(key: str) -> KeySpec:
    """The declaration of setting ``key``, or :class:`UnknownSetting`."""
    spec = SETTING_KEYS.get(key)
    if spec is None:
        raise UnknownSetting(
            f"There is no setting named {key!r}.", "See `enclave settings show` for the list."
        )
    return spec

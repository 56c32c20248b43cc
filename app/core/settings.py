"""The user's own settings, layered under the administrator's policy.

Levels, strongest first: managed policy (locked) > the user's value > recommended policy >
built-in default. The user's file (``<config_dir>/settings.json``) holds only what the user
set: values that came from policy are never written into it, so removing a policy gives the
user back exactly what they had chosen.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.errors import EnclaveError
from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy
from app.core.policy.schema import KeySpec, iter_keys

SETTINGS_VERSION = 1
# The largest context any GGUF model declares today is 1M tokens; more is a typo.
MAX_CONTEXT = 1_048_576
SETTINGS_FILE = "settings.json"

_log = logging.getLogger(__name__)

Level = Literal["managed", "user", "recommended", "default"]


class SettingsError(EnclaveError):
    """The settings file or a setting value is not usable."""


class UnknownSetting(SettingsError):
    """No setting has that name."""


class InvalidSettingValue(SettingsError):
    """The value does not fit the setting's type or range."""


class SettingLocked(SettingsError):
    """The administrator's policy manages this setting."""

    exit_code = 4


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

    context_length: int = Field(
        default=4096, ge=256, le=MAX_CONTEXT, description="Context window, in tokens."
    )
    gpu_layers: int = Field(
        default=-1, ge=-1, le=10_000, description="Layers offloaded to GPU; -1 = auto."
    )
    threads: int = Field(
        default=0, ge=0, le=1024,
        description="CPU threads for the local engine; 0 = adaptive, up to one per physical core.",
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


@dataclass(frozen=True)
class SettingState:
    """The effective value of one setting and why it has it."""

    value: Any
    locked: bool
    level: Level
    source: str


def _validate(spec: KeySpec, value: Any) -> Any:
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
        name: _validate(_spec(f"generation.{name}"), value)
        for name, value in changes.items()
        if value is not None
    }


def _spec(key: str) -> KeySpec:
    spec = SETTING_KEYS.get(key)
    if spec is None:
        raise UnknownSetting(
            f"There is no setting named {key!r}.", "See `enclave settings show` for the list."
        )
    return spec


class Settings:
    """The user's settings with the policy applied. Build with :meth:`Settings.load`."""

    def __init__(
        self,
        path: Path,
        policy: EffectivePolicy | None,
        raw: dict[str, Any],
        warnings: list[str],
        writable: bool = True,
    ) -> None:
        self.path = path
        self.policy = policy
        self.warnings = warnings
        self._raw = raw
        self._writable = writable
        self._user: dict[str, Any] = {}
        for key, spec in SETTING_KEYS.items():
            section, name = key.split(".", 1)
            body = raw.get(section)
            if not isinstance(body, dict) or name not in body:
                continue
            try:
                self._user[key] = _validate(spec, body[name])
            except InvalidSettingValue as exc:
                # Kept in the file (it is the user's), ignored here.
                warnings.append(f"{path}: ignored {key}: {exc.message}")

    @classmethod
    def load(cls, paths: AppPaths, policy: EffectivePolicy | None = None) -> Settings:
        """Read the user's settings file. Never raises for a bad file.

        A file that is not valid JSON is moved aside to ``settings.json.bad-<timestamp>`` and
        the defaults apply; a file written by a newer Enclave is left alone and not written.

        Args:
            paths: The app's directories (the file is ``paths.config_dir / "settings.json"``).
            policy: The effective policy; None means no policy at all.
        """
        path = paths.config_dir / SETTINGS_FILE
        warnings: list[str] = []
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(path, policy, {}, warnings)
        except OSError as exc:
            warnings.append(f"{path}: cannot be read ({exc.strerror}); using defaults")
            return cls._warned(path, policy, warnings, writable=False)
        try:
            raw = json.loads(data.decode("utf-8-sig"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
        except (ValueError, RecursionError) as exc:
            aside = path.with_name(f"{SETTINGS_FILE}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
            try:
                os.replace(path, aside)
                warnings.append(f"{path}: corrupt ({exc}); moved to {aside}; using defaults")
            except OSError as move_error:
                warnings.append(f"{path}: corrupt and cannot be moved aside ({move_error})")
                return cls._warned(path, policy, warnings, writable=False)
            return cls._warned(path, policy, warnings)
        version = raw.get("schema_version", SETTINGS_VERSION)
        if version != SETTINGS_VERSION or isinstance(version, bool):
            warnings.append(
                f"{path}: schema_version {version!r:.20} is not one this version reads "
                f"({SETTINGS_VERSION}); using defaults and leaving the file as it is"
            )
            return cls._warned(path, policy, warnings, writable=False)
        settings = cls(path, policy, raw, warnings)
        for warning in warnings:
            _log.warning("settings: %s", warning)
        return settings

    @classmethod
    def _warned(
        cls, path: Path, policy: EffectivePolicy | None, warnings: list[str], writable: bool = True
    ) -> Settings:
        for warning in warnings:
            _log.warning("settings: %s", warning)
        return cls(path, policy, {}, warnings, writable)

    def __iter__(self) -> Iterator[str]:
        """Every setting, in schema order."""
        return iter(list(SETTING_KEYS))

    def state(self, key: str) -> SettingState:
        """The effective value of a setting, whether it is locked, and where it came from.

        Raises:
            UnknownSetting: if there is no such setting.
        """
        spec = _spec(key)
        policy = self.policy
        entry = policy.entry(key) if policy is not None and key in policy else None
        if entry is not None and entry.level == "managed":
            return SettingState(copy.deepcopy(entry.value), True, "managed", entry.source)
        if (
            policy is not None
            and key == "engine.gpu_layers"
            and not policy.get("engine.gpu_allowed")
        ):
            source = policy.entry("engine.gpu_allowed").source
            return SettingState(0, policy.locked("engine.gpu_allowed"), "managed", source)
        if key in self._user:
            state = SettingState(copy.deepcopy(self._user[key]), False, "user", str(self.path))
        elif entry is not None and entry.level == "recommended":
            state = SettingState(copy.deepcopy(entry.value), False, "recommended", entry.source)
        else:
            state = SettingState(spec.default(), False, "default", "built-in")
        cap = self._context_cap()
        if key == "engine.context_length" and cap and state.value > cap and policy is not None:
            return SettingState(cap, False, "managed", policy.entry("engine.max_context").source)
        return state

    def _context_cap(self) -> int:
        if self.policy is None:
            return 0
        cap = self.policy.get("engine.max_context")
        return cap if isinstance(cap, int) else 0

    def get(self, key: str) -> Any:
        """The effective value of a setting."""
        return self.state(key).value

    def set(self, key: str, value: Any) -> None:
        """Set the user's value and save the file atomically.

        Raises:
            UnknownSetting: if there is no such setting.
            SettingLocked: if the policy manages the setting.
            InvalidSettingValue: if the value does not fit.
            SettingsError: if the file cannot be written.
        """
        spec = _spec(key)
        current = self.state(key)
        if current.locked:
            raise SettingLocked(
                f"{key} is managed by your organization",
                f"It is set in {current.source}; ask your administrator to change it.",
            )
        validated = _validate(spec, value)
        cap = self._context_cap()
        if key == "engine.context_length" and cap and validated > cap:
            raise SettingLocked(
                f"{key} above {cap} is managed by your organization",
                f"Choose {cap} or less; engine.max_context is set by your administrator.",
            )
        self._update(key, validated, remove=False)

    def reset(self, key: str) -> None:
        """Forget the user's value, so policy or the default applies again."""
        _spec(key)
        self._update(key, None, remove=True)

    def set_from_text(self, key: str, text: str) -> None:
        """Set a value typed on a command line: JSON if it parses and fits, else the text."""
        spec = _spec(key)
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            self.set(key, text)
            return
        try:
            _validate(spec, decoded)
        except InvalidSettingValue:
            # `models.default 123` is the string "123"; but a number for a numeric setting
            # is reported as the number it is (out of range), not as "not an integer".
            if isinstance(decoded, int | float) and not isinstance(decoded, bool):
                text_fits = True
                try:
                    _validate(spec, text)
                except InvalidSettingValue:
                    text_fits = False
                if not text_fits:
                    self.set(key, decoded)
                    return
            self.set(key, text)
        else:
            self.set(key, decoded)

    def _update(self, key: str, value: Any, remove: bool) -> None:
        if not self._writable:
            raise SettingsError(
                f"{self.path} cannot be changed: it could not be read or is from a newer "
                "version of Enclave.",
                "Fix or remove the file, then try again.",
            )
        raw = copy.deepcopy(self._raw)
        raw["schema_version"] = SETTINGS_VERSION
        section, name = key.split(".", 1)
        body = raw.get(section)
        if not isinstance(body, dict):
            body = raw[section] = {}
        if remove:
            body.pop(name, None)
        else:
            body[name] = value
        self._write(raw)
        self._raw = raw
        if remove:
            self._user.pop(key, None)
        else:
            self._user[key] = value

    def _write(self, raw: dict[str, Any]) -> None:
        text = json.dumps(raw, indent=2, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise SettingsError(
                f"Cannot save settings to {self.path}: {exc.strerror or exc}.",
                "Check that the folder exists and you may write to it.",
            ) from None

    def user_values(self) -> dict[str, Any]:
        """What the user set themselves (what the file holds), by dotted key."""
        return copy.deepcopy(self._user)

    def report(self) -> dict[str, Any]:
        """Everything ``enclave settings show --json`` prints."""
        keys: dict[str, Any] = {}
        for key in SETTING_KEYS:
            state = self.state(key)
            keys[key] = {
                "value": state.value,
                "locked": state.locked,
                "level": state.level,
                "source": state.source,
                "description": SETTING_KEYS[key].description,
            }
        return {"file": str(self.path), "warnings": list(self.warnings), "keys": keys}

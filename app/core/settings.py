"""The user's own settings, layered under the administrator's policy.

Levels, strongest first: managed policy (locked) > the user's value > recommended policy >
built-in default. The user's file (``<config_dir>/settings.json``) holds only what the user
set: values that came from policy are never written into it, so removing a policy gives the
user back exactly what they had chosen. What each setting may hold, and the limits policy
puts on it, is declared in ``settings_schema.py``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.jsonstore import write_json_atomic
from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy
from app.core.policy.migrations import UnknownSchemaVersion, migrate
from app.core.settings_schema import (
    MAX_CONTEXT,
    SETTING_KEYS,
    SETTINGS_FILE,
    SETTINGS_MIGRATIONS,
    SETTINGS_VERSION,
    CappedBy,
    EngineSettings,
    GenerationSettings,
    HistorySettings,
    InvalidSettingValue,
    Level,
    ModelsSettings,
    OffUnless,
    PolicyLimit,
    SettingLocked,
    SettingsDocument,
    SettingsError,
    SettingState,
    UiSettings,
    UnknownSetting,
    policy_limits,
    spec_for,
    validate_generation,
    validate_value,
)

__all__ = [
    "CappedBy",
    "EngineSettings",
    "GenerationSettings",
    "HistorySettings",
    "InvalidSettingValue",
    "Level",
    "MAX_CONTEXT",
    "ModelsSettings",
    "OffUnless",
    "PolicyLimit",
    "SETTINGS_FILE",
    "SETTINGS_MIGRATIONS",
    "SETTINGS_VERSION",
    "SETTING_KEYS",
    "SettingLocked",
    "SettingState",
    "SettingsDocument",
    "SettingsError",
    "UiSettings",
    "UnknownSetting",
    "spec_for",
    "validate_value",
    "policy_limits",
    "validate_generation",
    "Settings",
]

_log = logging.getLogger(__name__)


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
                self._user[key] = validate_value(spec, body[name])
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
        try:
            raw = migrate(
                {"schema_version": SETTINGS_VERSION, **raw}, SETTINGS_VERSION, SETTINGS_MIGRATIONS
            )
        except UnknownSchemaVersion as exc:
            warnings.append(f"{path}: {exc}; using defaults and leaving the file as it is")
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
        spec = spec_for(key)
        policy = self.policy
        entry = policy.entry(key) if policy is not None and key in policy else None
        if entry is not None and entry.level == "managed":
            return SettingState(copy.deepcopy(entry.value), True, "managed", entry.source)
        if key in self._user:
            state = SettingState(copy.deepcopy(self._user[key]), False, "user", str(self.path))
        elif entry is not None and entry.level == "recommended":
            state = SettingState(copy.deepcopy(entry.value), False, "recommended", entry.source)
        else:
            state = SettingState(spec.default(), False, "default", "built-in")
        if policy is not None:
            for limit in policy_limits(spec):
                state = limit.apply(policy, state)
        return state

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
        spec = spec_for(key)
        current = self.state(key)
        if current.locked:
            raise SettingLocked(
                f"{key} is managed by your organization",
                f"It is set in {current.source}; ask your administrator to change it.",
            )
        validated = validate_value(spec, value)
        if self.policy is not None:
            for limit in policy_limits(spec):
                limit.check(self.policy, key, validated)
        self._update(key, validated, remove=False)

    def reset(self, key: str) -> None:
        """Forget the user's value, so policy or the default applies again."""
        spec_for(key)
        self._update(key, None, remove=True)

    def set_from_text(self, key: str, text: str) -> None:
        """Set a value typed on a command line: JSON if it parses and fits, else the text."""
        spec = spec_for(key)
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            self.set(key, text)
            return
        try:
            validate_value(spec, decoded)
        except InvalidSettingValue:
            # `models.default 123` is the string "123"; but a number for a numeric setting
            # is reported as the number it is (out of range), not as "not an integer".
            if isinstance(decoded, int | float) and not isinstance(decoded, bool):
                text_fits = True
                try:
                    validate_value(spec, text)
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
        try:
            write_json_atomic(self.path, raw, indent=2, sort_keys=True)
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

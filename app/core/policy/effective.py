"""The effective policy: every source merged, and the decisions made from it.

Levels, strongest first: managed > (the user's own setting, see ``app.core.settings``) >
recommended > built-in default. Within a level, later sources win per key. A managed source
that cannot be used puts the whole policy in restricted mode (fail closed).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from app.core.policy.errors import PolicyError, PolicyIssue
from app.core.policy.schema import POLICY_KEYS, SCHEMA_VERSION, PolicyDocument
from app.core.policy.validate import ParsedSource

LevelName = Literal["managed", "recommended", "default"]
Status = Literal["ok", "error", "ignored", "superseded"]

RESTRICTED_SOURCE = "restricted-mode"
BUILT_IN = "built-in"
# What restricted mode forces, whatever any file says: nothing leaves the machine.
RESTRICTED_VALUES: dict[str, Any] = {
    "connector.enabled": False,
    "history.export_allowed": False,
    "models.download_allowed": False,
    # The local API is another way in: it stays off, and never listens beyond loopback.
    "api.enabled": False,
    "api.remote_bind_addresses": [],
}
_ALLOWLIST = "models.allowed_sha256"
# Keys that restrict which models load: a broken value may hide a restriction, so it blocks
# every model (held at its default, the approval gate would silently be off).
_MODEL_GATES = frozenset({_ALLOWLIST, "models.require_approval", "models.minimum_scores",
                          "models.suite_dirs"})


class UnknownPolicyKey(PolicyError):
    """A caller asked for a policy key the schema does not declare."""


@dataclass(frozen=True)
class PolicyEntry:
    """The effective value of one key and where it came from.

    Attributes:
        key: Dotted key.
        value: Effective value (JSON-compatible data).
        level: ``managed``, ``recommended`` or ``default``.
        source: File path, registry key, ``restricted-mode`` or ``built-in``.
        status: ``ok``; ``superseded`` when it beat another value; ``error`` when a managed
            value was invalid (the key is then held at a safe value); ``ignored`` when an
            invalid recommended value was skipped.
        superseded_value: The value it beat, when status is ``superseded``.
        superseded_source: Where that value came from.
        message: Why the status is ``error`` or ``ignored``.
    """

    key: str
    value: Any
    level: LevelName
    source: str
    status: Status = "ok"
    superseded_value: Any = None
    superseded_source: str | None = None
    message: str = ""


@dataclass(frozen=True)
class PolicyDecision:
    """A yes or no, the rule that made it, and a sentence a user understands."""

    allowed: bool
    rule: str
    reason: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class EffectivePolicy:
    """The merged policy. Build it with :func:`app.core.policy.load_policy`."""

    def __init__(
        self,
        entries: dict[str, PolicyEntry],
        restricted_reasons: list[str],
        warnings: list[str],
        models_blocked: str | None,
        sources: list[dict[str, Any]],
    ) -> None:
        self._entries = entries
        self.restricted_reasons = list(restricted_reasons)
        self.warnings = list(warnings)
        self.models_blocked = models_blocked
        self.sources = sources
        self.sha256 = hashlib.sha256(_canonical(self._hashed()).encode()).hexdigest()

    @property
    def restricted(self) -> bool:
        """True when a managed source could not be used: connector and export are off."""
        return bool(self.restricted_reasons)

    def _hashed(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "values": self.values(),
            "restricted": self.restricted,
            "models_blocked": self.models_blocked is not None,
        }

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        """Every key, in schema order."""
        return iter(list(self._entries))

    def entry(self, key: str) -> PolicyEntry:
        """The effective entry for a dotted key.

        Raises:
            UnknownPolicyKey: if the schema has no such key.
        """
        try:
            return self._entries[key]
        except KeyError:
            raise UnknownPolicyKey(
                f"There is no policy key named {key!r}.",
                "See `enclave policy show` for the list of keys.",
            ) from None

    def get(self, key: str) -> Any:
        """The effective value of a dotted key (a copy: callers cannot change the policy)."""
        return copy.deepcopy(self.entry(key).value)

    def locked(self, key: str) -> bool:
        """True when an administrator manages the key (users cannot change it)."""
        return key in self._entries and self._entries[key].level == "managed"

    def values(self) -> dict[str, Any]:
        """Effective values as a nested document (``{"connector": {"enabled": false}}``)."""
        nested: dict[str, Any] = {}
        for key, entry in self._entries.items():
            section, name = key.split(".", 1)
            nested.setdefault(section, {})[name] = copy.deepcopy(entry.value)
        return nested

    def document(self) -> PolicyDocument:
        """The effective values as the typed pydantic model."""
        return PolicyDocument.model_validate(
            {"schema_version": SCHEMA_VERSION, **self.values()}, strict=False
        )

    def _rule(self, key: str) -> str:
        entry = self._entries[key]
        return f"{entry.level}:{key} ({entry.source})"

    def rule(self, key: str) -> str:
        """The rule a decision from ``key`` names: ``managed:models.x (/etc/…/10-site.json)``.

        Raises:
            UnknownPolicyKey: if the schema has no such key.
        """
        self.entry(key)
        return self._rule(key)

    def check_model(self, sha256: str) -> PolicyDecision:
        """May the model file with this SHA-256 load?"""
        if self.models_blocked is not None:
            return PolicyDecision(
                False,
                RESTRICTED_SOURCE,
                "No model may load: the organization's list of approved models could not be "
                f"read ({self.models_blocked}). Ask your administrator to fix the policy.",
            )
        digest = sha256.strip().lower() if isinstance(sha256, str) else ""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            return PolicyDecision(
                False, self._rule(_ALLOWLIST), "The model's SHA-256 digest is not valid."
            )
        allowed: list[str] = self._entries[_ALLOWLIST].value
        rule = self._rule(_ALLOWLIST)
        if not allowed:
            return PolicyDecision(True, rule, "Policy does not restrict which models may load.")
        if digest in allowed:
            return PolicyDecision(True, rule, "The model is on the approved list.")
        return PolicyDecision(
            False,
            rule,
            f"This model (SHA-256 {digest[:12]}…) is not on your organization's list of "
            "approved models.",
        )

    def connector_allowed_for(self, user: str, groups: list[str]) -> PolicyDecision:
        """May this OS user (a member of ``groups``) send requests to remote endpoints?"""
        if self.restricted:
            return PolicyDecision(
                False,
                RESTRICTED_SOURCE,
                "The connector is off: the policy could not be read, so Enclave runs local only.",
            )
        if not self._entries["connector.enabled"].value:
            return PolicyDecision(
                False,
                self._rule("connector.enabled"),
                "Your organization has not enabled the connector to remote models.",
            )
        # Windows account names are case-insensitive; POSIX names are not.
        fold = str.casefold if sys.platform == "win32" else str
        users = {fold(u) for u in self._entries["connector.allowed_users"].value}
        if "*" in users or fold(user) in users:
            return PolicyDecision(
                True, self._rule("connector.allowed_users"), "You may use the connector."
            )
        allowed_groups = {fold(g) for g in self._entries["connector.allowed_groups"].value}
        if allowed_groups & {fold(g) for g in groups}:
            return PolicyDecision(
                True, self._rule("connector.allowed_groups"), "You may use the connector."
            )
        return PolicyDecision(
            False,
            self._rule("connector.allowed_users"),
            f"The connector is enabled, but not for {user}: ask your administrator to add you.",
        )

    def report(self) -> dict[str, Any]:
        """Everything ``enclave policy show --json`` prints."""
        return {
            "schema_version": SCHEMA_VERSION,
            "sha256": self.sha256,
            "restricted": self.restricted,
            "restricted_reasons": list(self.restricted_reasons),
            "models_blocked": self.models_blocked,
            "warnings": list(self.warnings),
            "sources": copy.deepcopy(self.sources),
            "keys": {key: asdict(entry) for key, entry in self._entries.items()},
        }


def _may_hide_allowlist(issue: PolicyIssue) -> bool:
    """Could the administrator have meant this broken entry to restrict which models load?

    A bad allowlist or approval-gate value, a misspelt key under ``models`` or an unknown
    section (``modles``) all hide what the administrator meant; failing closed means no model
    loads.
    """
    if issue.key is not None:
        return issue.key in _MODEL_GATES
    section = issue.path.removeprefix("$.").split(".", 1)[0].split("[", 1)[0]
    return section == "models" or section not in PolicyDocument.model_fields


def _source_summary(level: str, parsed: ParsedSource, bad: str) -> dict[str, Any]:
    return {
        "source": parsed.source,
        "level": level,
        "status": bad if parsed.issues else "ok",
        "issues": [{"path": i.path, "reason": i.reason} for i in parsed.issues],
        "warnings": [{"path": w.path, "reason": w.reason} for w in parsed.warnings],
    }


# Long on purpose: the merge rules (managed over user over recommended, restricted mode,
# the allowlist guard) read best as one pass over the sources.
def build_effective(
    managed: list[ParsedSource], recommended: list[ParsedSource]
) -> EffectivePolicy:
    """Merge parsed sources (each list weakest first) into the effective policy. Never raises.

    Args:
        managed: Managed sources in merge order.
        recommended: Recommended sources in merge order.
    """
    reasons: list[str] = []
    warnings: list[str] = []
    models_blocked: str | None = None
    managed_errors: dict[str, tuple[str, str]] = {}
    recommended_errors: dict[str, str] = {}
    sources: list[dict[str, Any]] = []

    for parsed in [*managed, *recommended]:
        warnings.extend(str(w) for w in parsed.warnings)
    for parsed in managed:
        sources.append(_source_summary("managed", parsed, "error"))
        for issue in parsed.issues:
            reasons.append(str(issue))
            if issue.key is not None:
                managed_errors.setdefault(issue.key, (issue.source, str(issue)))
            if models_blocked is None and (parsed.fatal or _may_hide_allowlist(issue)):
                models_blocked = str(issue)
    for parsed in recommended:
        sources.append(_source_summary("recommended", parsed, "ignored"))
        for issue in parsed.issues:
            warnings.append(f"ignored: {issue}")
            if issue.key is not None:
                recommended_errors.setdefault(issue.key, str(issue))

    entries: dict[str, PolicyEntry] = {}
    for key, spec in POLICY_KEYS.items():
        default = PolicyEntry(key, spec.default(), "default", BUILT_IN)
        chain = [default]
        chain += [
            PolicyEntry(key, p.values[key], "recommended", p.source)
            for p in recommended
            if key in p.values
        ]
        chain += [
            PolicyEntry(key, p.values[key], "managed", p.source) for p in managed if key in p.values
        ]
        entry = chain[-1]
        if len(chain) > 2:
            beaten = chain[-2]
            entry = PolicyEntry(
                key,
                entry.value,
                entry.level,
                entry.source,
                status="superseded",
                superseded_value=beaten.value,
                superseded_source=beaten.source,
            )
        if key in managed_errors:
            # The administrator meant to set this key and we cannot tell to what: hold it
            # at the safe value (restricted, else the last valid managed value, else the
            # default) and lock it.
            fallback = entry.value if entry.level == "managed" else default.value
            source, message = managed_errors[key]
            entry = PolicyEntry(
                key,
                RESTRICTED_VALUES.get(key, fallback),
                "managed",
                source,
                status="error",
                message=message,
            )
        elif key in recommended_errors and entry.level != "managed":
            entry = PolicyEntry(
                key,
                entry.value,
                entry.level,
                entry.source,
                status="ignored",
                message=recommended_errors[key],
            )
        entries[key] = entry

    if reasons:
        for key, value in RESTRICTED_VALUES.items():
            prior = entries[key]
            if prior.status == "error":
                entries[key] = PolicyEntry(
                    key, value, "managed", RESTRICTED_SOURCE, "error", message=prior.message
                )
            elif prior.value != value:
                entries[key] = PolicyEntry(
                    key,
                    value,
                    "managed",
                    RESTRICTED_SOURCE,
                    status="superseded",
                    superseded_value=prior.value,
                    superseded_source=prior.source,
                )
            else:
                entries[key] = PolicyEntry(key, value, "managed", RESTRICTED_SOURCE)
    return EffectivePolicy(entries, reasons, warnings, models_blocked, sources)

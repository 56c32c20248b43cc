"""Administrator policy: what an organization allows, locks and recommends.

Other modules call :func:`load_policy` once and ask the returned :class:`EffectivePolicy`
(``get``, ``locked``, ``check_model``, ``connector_allowed_for``). Every decision names the
rule that made it; ``sha256`` identifies the effective policy in audit records.
"""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path

from app.core.policy.effective import (
    EffectivePolicy,
    PolicyDecision,
    PolicyEntry,
    UnknownPolicyKey,
    build_effective,
)
from app.core.policy.errors import PolicyError, PolicyFileError, PolicyIssue
from app.core.policy.schema import POLICY_KEYS, SCHEMA_VERSION, PolicyDocument
from app.core.policy.sources import read_all_sources
from app.core.policy.validate import ParsedSource, check_file, validate_file

__all__ = [
    "POLICY_KEYS",
    "SCHEMA_VERSION",
    "EffectivePolicy",
    "PolicyDecision",
    "PolicyDocument",
    "PolicyEntry",
    "PolicyError",
    "PolicyFileError",
    "PolicyIssue",
    "UnknownPolicyKey",
    "check_file",
    "current_os_user",
    "load_policy",
    "validate_file",
]

_log = logging.getLogger(__name__)


def load_policy(root: Path | None = None) -> EffectivePolicy:
    """Read every policy source and merge them. Never raises for bad policy files.

    Args:
        root: The policy root; None means the machine's (``default_paths().policy_root``).
            Only code passes this (tests): no environment variable or user file can move it.

    Returns:
        The effective policy; restricted (local only) when a managed source is unusable,
        when a user could have moved or replaced the policy root (an unsafe directory above
        it), or when the administrator requires managed policy and there is none.
    """
    if root is None:
        from app.core.paths import default_paths

        root = default_paths().policy_root
    try:
        managed, recommended = read_all_sources(root)
    except Exception as exc:  # fail closed on anything we did not foresee
        failed = ParsedSource(str(root)).fail(f"cannot be read: {type(exc).__name__}: {exc}")
        managed, recommended = [failed], []
    policy = build_effective(managed, recommended)
    for reason in policy.restricted_reasons:
        _log.warning("policy: restricted mode: %s", reason)
    for warning in policy.warnings:
        _log.warning("policy: %s", warning)
    return policy


def current_os_user() -> tuple[str, list[str]]:
    """The OS user running Enclave and the names of their groups."""
    try:
        import grp
        import pwd

        entry = pwd.getpwuid(os.getuid())
        gids = os.getgrouplist(entry.pw_name, entry.pw_gid)
        groups: list[str] = []
        for gid in gids:
            try:
                groups.append(grp.getgrgid(gid).gr_name)
            except KeyError:  # a gid with no name in the group database
                continue
        return entry.pw_name, sorted(set(groups))
    except (ImportError, KeyError, OSError):
        return getpass.getuser(), []

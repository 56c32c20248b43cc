"""Who could make the managed policy vanish: the directories above the policy root.

A user who may rename an entry of any directory on the way to the policy root can move
``policies/`` away, and absent policy used to mean built-in defaults. Every ancestor is now
checked the way sshd's StrictModes checks a user's home (owned by root, not writable by group
or others; a sticky shared directory such as /tmp is fine only where the entry in it belongs
to root), and an administrator can state that managed policy is required, so that its
absence is restricted mode too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.policy import load_policy
from app.core.policy.trust import MARKER_NAME, ancestry_problem

WriteFn = Callable[..., Path]
MakeRoot = Callable[[Path], Path]

OTHER_UID = 1000
EXPORT_ON = {"schema_version": 1, "history": {"export_allowed": True}}
EXPORT_OFF = {"schema_version": 1, "history": {"export_allowed": False}}


def chain(base: Path, modes: list[int], owners: list[int] | None = None) -> Path:
    """Directories ``base/d0/d1/...`` with the given modes (and owners), deepest last."""
    path = base
    for i, mode in enumerate(modes):
        path = path / f"d{i}"
        path.mkdir()
        os.chmod(path, mode)
        if owners is not None:
            os.chown(path, owners[i], owners[i])
    return path


@pytest.fixture
def base(tmp_path: Path) -> Path:
    os.chmod(tmp_path, 0o755)
    return tmp_path


def test_a_trusted_chain_applies_the_managed_policy(
    base: Path, make_policy_root: MakeRoot, write_file: WriteFn
) -> None:
    root = make_policy_root(chain(base, [0o755, 0o755]))
    write_file(root, "managed", "10.json", EXPORT_OFF)
    policy = load_policy(root)
    assert not policy.restricted, policy.restricted_reasons
    assert policy.get("history.export_allowed") is False
    assert ancestry_problem(root) is None


@pytest.mark.parametrize(
    ("modes", "owners", "culprit", "words"),
    [
        ([0o777, 0o755], None, 0, "writable by group or others"),
        ([0o755, 0o775], None, 1, "writable by group or others"),
        ([0o755, 0o757], None, 1, "writable by group or others"),
        ([0o755, 0o755], [0, OTHER_UID], 1, f"owned by uid {OTHER_UID}"),
        ([0o755, 0o755], [OTHER_UID, 0], 0, f"owned by uid {OTHER_UID}"),
        # sticky, but the entry in it is a user's: its owner can rename it
        ([0o1777, 0o755], [0, OTHER_UID], 0, "sticky"),
    ],
)
def test_an_unsafe_ancestor_means_restricted_mode_even_when_the_root_is_gone(
    base: Path,
    make_policy_root: MakeRoot,
    write_file: WriteFn,
    modes: list[int],
    owners: list[int] | None,
    culprit: int,
    words: str,
) -> None:
    top = chain(base, modes, owners)
    root = make_policy_root(top)
    write_file(root, "managed", "10.json", EXPORT_OFF)
    unsafe = base.joinpath(*[f"d{i}" for i in range(culprit + 1)])
    for _attempt in ("in place", "renamed away"):
        policy = load_policy(root)
        assert policy.restricted
        assert any(str(unsafe) in r and words in r for r in policy.restricted_reasons), (
            policy.restricted_reasons
        )
        assert policy.get("history.export_allowed") is False
        assert not policy.connector_allowed_for("alice", []).allowed
        if root.exists():
            root.rename(top / "elsewhere")  # what the local user did


def test_the_policy_root_itself_owned_by_a_user_is_restricted_mode(
    base: Path, make_policy_root: MakeRoot
) -> None:
    root = make_policy_root(base)
    os.chown(root, OTHER_UID, OTHER_UID)
    policy = load_policy(root)
    assert policy.restricted
    assert any(str(root) in r and f"uid {OTHER_UID}" in r for r in policy.restricted_reasons)


def test_a_sticky_shared_directory_with_a_root_owned_entry_is_fine(
    base: Path, make_policy_root: MakeRoot, write_file: WriteFn
) -> None:
    # /tmp's shape: world-writable and sticky; users cannot rename what root owns there.
    root = make_policy_root(chain(base, [0o1777, 0o755]))
    write_file(root, "managed", "10.json", EXPORT_OFF)
    assert not load_policy(root).restricted


def test_a_symlink_to_a_root_below_an_unsafe_directory_is_followed(
    base: Path, make_policy_root: MakeRoot, write_file: WriteFn
) -> None:
    real = make_policy_root(chain(base, [0o777]))
    write_file(real, "managed", "10.json", EXPORT_OFF)
    safe = base / "safe"
    safe.mkdir(mode=0o755)
    (safe / "policies").symlink_to(real)
    problem = ancestry_problem(safe / "policies")
    assert problem is not None and str(base / "d0") in problem
    assert load_policy(safe / "policies").restricted


def test_trusted_owners_are_a_parameter(base: Path, make_policy_root: MakeRoot) -> None:
    root = make_policy_root(chain(base, [0o755], [OTHER_UID]))
    assert ancestry_problem(root) is not None
    assert ancestry_problem(root, trusted_uids=frozenset({0, OTHER_UID})) is None


# -- the administrator says managed policy must exist --------------------------------------


def test_without_the_marker_an_absent_root_means_built_in_defaults(base: Path) -> None:
    policy = load_policy(base / "policies")
    assert not policy.restricted
    assert policy.get("history.export_allowed") is True


@pytest.mark.parametrize("state", ["root absent", "managed absent", "managed empty",
                                   "only recommended"])
def test_with_the_marker_absent_managed_policy_means_restricted_mode(
    base: Path, make_policy_root: MakeRoot, write_file: WriteFn, state: str
) -> None:
    marker = base / MARKER_NAME
    marker.touch()
    root = base / "policies"
    if state != "root absent":
        make_policy_root(base)
        if state == "managed absent":
            (root / "managed").rmdir()
        if state == "only recommended":
            write_file(root, "recommended", "10.json", EXPORT_ON)
    policy = load_policy(root)
    assert policy.restricted
    assert any(str(marker) in r and "required" in r for r in policy.restricted_reasons), (
        policy.restricted_reasons
    )
    assert policy.get("history.export_allowed") is False


def test_with_the_marker_present_managed_policy_applies(
    base: Path, make_policy_root: MakeRoot, write_file: WriteFn
) -> None:
    (base / MARKER_NAME).touch()
    root = make_policy_root(base)
    write_file(root, "managed", "10.json", EXPORT_OFF)
    policy = load_policy(root)
    assert not policy.restricted, policy.restricted_reasons
    assert policy.get("history.export_allowed") is False

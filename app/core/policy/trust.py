r"""Whether the policy root can be trusted to be there, and whether it must be.

Checking the managed files' owner is not enough: whoever may rename an entry of any directory
on the way to the policy root can move ``policies/`` away, and a missing root means built-in
defaults. So, like sshd's StrictModes, every directory from ``/`` down to the root (following
symlinks, whose targets are walked the same way) must be owned by root and writable by nobody
else. A group- or world-writable directory is accepted only when it is sticky (``/tmp``) and
the entry in it on our path belongs to root, because the sticky bit stops other users
renaming or deleting entries they do not own.

An administrator can also say that managed policy must exist: the marker file
``policy-required`` next to the policy root (``/etc/enclave/policy-required`` for the root
``/etc/enclave/policies``), or on Windows the registry value
``HKLM\SOFTWARE\Enclave\PolicyRequired`` (DWORD 1). The marker sits above the root, so
moving the root away leaves the marker behind; its absence then means restricted mode.

Windows: directory ACLs are not checked here (the installer creates
``%ProgramData%\Enclave`` writable by administrators only); set ``PolicyRequired`` so that a
missing root fails closed.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

TRUSTED_UIDS: frozenset[int] = frozenset({0})
"""Owners whose directories may hold the policy root: root only (never the user running us)."""

MARKER_NAME = "policy-required"
REQUIRED_REGISTRY_KEY = r"SOFTWARE\Enclave"
REQUIRED_REGISTRY_VALUE = "PolicyRequired"
_MAX_SYMLINKS = 40  # as Linux's own limit (ELOOP)


def _owner_problem(path: str, st: os.stat_result, trusted_uids: frozenset[int]) -> str | None:
    if st.st_uid in trusted_uids:
        return None
    return (
        f"untrusted: {path} is owned by uid {st.st_uid}, not root, so its owner could move "
        "the policy away; make it owned by root (chown root)"
    )


def _writable(st: os.stat_result) -> bool:
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _entry_problem(
    directory: str,
    dir_st: os.stat_result,
    child: str,
    child_st: os.stat_result | None,
    trusted_uids: frozenset[int],
) -> str | None:
    """Could someone other than root rename or replace ``child`` inside ``directory``?"""
    if not _writable(dir_st):
        return None
    mode = stat.S_IMODE(dir_st.st_mode)
    if not dir_st.st_mode & stat.S_ISVTX:
        return (
            f"untrusted: {directory} is writable by group or others (mode {mode:04o}), so "
            f"anyone who may write there could rename or replace {child}; remove that write "
            "access (chmod go-w)"
        )
    # Sticky: only an entry's owner (or the directory's) may rename it. An absent entry
    # cannot have been removed by a user if root created it.
    if child_st is not None and child_st.st_uid not in trusted_uids:
        return (
            f"untrusted: {directory} is a shared sticky directory (mode {mode:04o}) and "
            f"{child} in it is owned by uid {child_st.st_uid}, who could rename it; make "
            f"{child} owned by root"
        )
    return None


# Long on purpose: one walk from / to the root; every refusal is a step of that walk.
def ancestry_problem(root: Path, trusted_uids: frozenset[int] = TRUSTED_UIDS) -> str | None:
    """Why the policy root, or its absence, cannot be trusted; None when it can.

    Walks from ``/`` to ``root`` one entry at a time, following symlinks. It stops, content,
    at the first entry that does not exist: what exists above it decides whether that
    absence can be trusted.

    Args:
        root: The policy root (need not exist).
        trusted_uids: Owners that count as root (tests only; production uses root alone).

    Returns:
        The first problem found, in words, or None. Always None off POSIX (see the module).
    """
    if os.name != "posix":
        return None
    pending = list(reversed(Path(os.path.abspath(root)).parts[1:]))
    current = "/"
    links = 0
    while True:
        try:
            current_st = os.lstat(current)
        except OSError as exc:
            return f"cannot be checked: {current}: {exc.strerror or exc}"
        problem = _owner_problem(current, current_st, trusted_uids)
        if problem:
            return problem
        if not pending:
            break
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)  # current is a real directory: no symlink
            continue
        child = os.path.join(current, name)
        try:
            child_st: os.stat_result | None = os.lstat(child)
        except (FileNotFoundError, NotADirectoryError):
            child_st = None
        except OSError as exc:
            return f"cannot be checked: {child}: {exc.strerror or exc}"
        problem = _entry_problem(current, current_st, child, child_st, trusted_uids)
        if problem or child_st is None:
            return problem
        if stat.S_ISLNK(child_st.st_mode):
            links += 1
            if links > _MAX_SYMLINKS:
                return f"cannot be checked: too many symbolic links below {root}"
            target = os.readlink(child)
            if os.path.isabs(target):
                current = "/"
            pending.extend(reversed([p for p in target.split("/") if p]))
            continue
        if not stat.S_ISDIR(child_st.st_mode):
            return None  # a file where a directory should be: the root cannot exist
        current = child
    # The root itself: nobody but root may add, remove or rename what is in it.
    if _writable(current_st):
        mode = stat.S_IMODE(current_st.st_mode)
        return (
            f"untrusted: the policy directory {current} is writable by group or others "
            f"(mode {mode:04o}); remove that write access (chmod go-w)"
        )
    return None


def marker_path(root: Path) -> Path:
    """Where an administrator states that managed policy is required: beside the root."""
    return root.parent / MARKER_NAME


def _registry_requires() -> bool:
    if sys.platform != "win32":
        return False
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, REQUIRED_REGISTRY_KEY) as handle:
            data, _kind = winreg.QueryValueEx(handle, REQUIRED_REGISTRY_VALUE)
    except OSError:
        return False
    return bool(data)


def policy_required_by(root: Path) -> str | None:
    """What says managed policy must exist (the marker's path or the registry value), or None.

    Any kind of entry at the marker path counts: it can only make the policy stricter, and
    only root can create it once the ancestry is trusted.
    """
    marker = marker_path(root)
    if os.path.lexists(marker):
        return str(marker)
    if _registry_requires():
        return rf"HKLM\{REQUIRED_REGISTRY_KEY}\{REQUIRED_REGISTRY_VALUE}"
    return None

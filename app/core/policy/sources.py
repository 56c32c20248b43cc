r"""Where policy comes from: machine-wide JSON files and the Windows registry.

A managed file is trusted only if root owns it and nobody else can write it (the same holds
for its directory and the policy root): a file a user can edit must never set, or loosen, a
managed value. Every directory above the root is held to the same rule, and an
administrator can require managed policy to exist (see ``trust.py``). On Windows the file
ACLs are not checked here; the installer creates ``%ProgramData%\Enclave\policies``
writable by administrators only.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, Literal

from app.core.policy import strictjson
from app.core.policy.errors import PolicyIssue
from app.core.policy.schema import POLICY_KEYS, SCHEMA_VERSION
from app.core.policy.trust import TRUSTED_UIDS, ancestry_problem, policy_required_by
from app.core.policy.validate import (
    MAX_FILE_BYTES,
    ParsedSource,
    duplicate_issues,
    parse_bytes,
    validate_document,
    validate_value,
)

Level = Literal["managed", "recommended"]
LEVELS: tuple[Level, ...] = ("managed", "recommended")

REGISTRY_KEY = r"SOFTWARE\Policies\Enclave"
r"""Group Policy writes managed values here (HKLM); recommended ones under ``\Recommended``."""


def trust_problem(st: os.stat_result, what: str) -> str | None:
    """Why a file or directory with this status cannot be trusted, or None if it can.

    Args:
        st: Its ``stat`` result.
        what: How to name it in the reason.
    """
    if os.name != "posix":
        return None
    if st.st_uid != 0:
        return f"untrusted: {what} is owned by uid {st.st_uid}, not root"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.S_IMODE(st.st_mode)
        return f"untrusted: {what} is writable by group or others (mode {mode:04o})"
    return None


def read_trusted_bytes(path: Path) -> tuple[bytes | None, str | None]:
    """A root-owned file's bytes (at most ``MAX_FILE_BYTES`` + 64 KiB), or why it cannot count.

    Returns:
        ``(data, None)``, or ``(None, problem)`` when it cannot be read or trusted.
    """
    # O_NONBLOCK: a FIFO planted in the directory must not hang start-up.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "cannot be read: not a regular file"
        problem = trust_problem(st, "the file")
        if problem:
            return None, problem
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    finally:
        os.close(fd)
    return b"".join(chunks), None


def _read_trusted(path: Path) -> ParsedSource:
    data, problem = read_trusted_bytes(path)
    if data is None:
        return ParsedSource(str(path)).fail(problem or "cannot be read")
    return parse_bytes(data, str(path))


def _directory_problem(directory: Path, what: str) -> str | None:
    try:
        st = directory.stat()
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISDIR(st.st_mode):
        return f"cannot be read: {what} is not a directory"
    return trust_problem(st, what)


def read_level_files(root: Path, level: Level) -> list[ParsedSource]:
    """Read ``<root>/<level>/*.json`` in file-name order.

    Args:
        root: The policy root (``AppPaths.policy_root``).
        level: ``managed`` or ``recommended``.

    Returns:
        One parsed source per file; a directory that cannot be trusted or listed is one
        fatal source. Never raises.
    """
    directory = root / level
    if not os.path.lexists(directory):
        return []
    # Recommended files are held to the same rule; the loader only warns when one fails.
    for path, what in ((root, "the policy directory"), (directory, f"the {level} directory")):
        problem = _directory_problem(path, what)
        if problem:
            return [ParsedSource(str(path)).fail(problem)]
    try:
        names = sorted(e.name for e in os.scandir(directory) if e.name.endswith(".json"))
    except OSError as exc:
        return [ParsedSource(str(directory)).fail(f"cannot be read: {exc.strerror or exc}")]
    return [_read_trusted(directory / name) for name in names]


def _registry_candidates(
    data: Any, name: str, source: str
) -> tuple[list[Any], list[PolicyIssue]]:
    # Group Policy stores booleans and numbers as DWORDs and everything else as strings; a
    # string may hold JSON for lists and objects (see the ADMX export). That JSON is held
    # to the file rule: a duplicate key in it is an error, not a choice.
    if isinstance(data, int) and not isinstance(data, bool):
        return ([data, bool(data)] if data in (0, 1) else [data]), []
    if isinstance(data, str):
        try:
            decoded, duplicates = strictjson.loads(data)
        except (ValueError, RecursionError):
            return [data], []
        if duplicates:
            return [], duplicate_issues(duplicates, source, prefix=f"$.{name}")
        return [data, decoded], []
    return [data], []


def registry_document(values: dict[str, Any], source: str) -> ParsedSource:
    """Validate the values of a registry policy key (value name = dotted policy key).

    Args:
        values: Registry value name to data, as ``winreg`` returns it.
        source: The registry key, for the issues.
    """
    document: dict[str, Any] = {"schema_version": values.get("schema_version", SCHEMA_VERSION)}
    duplicates: list[PolicyIssue] = []
    for name, data in values.items():
        if name == "schema_version":
            continue
        spec = POLICY_KEYS.get(name)
        chosen = data
        if spec is not None:
            candidates, found = _registry_candidates(data, name, source)
            duplicates += found
            for candidate in candidates:
                if not validate_value(spec, candidate, source)[1]:
                    chosen = candidate
                    break
        section, _, key = name.partition(".")
        if not key:
            document[section] = data
            continue
        body = document.setdefault(section, {})
        if isinstance(body, dict):
            body[key] = chosen
    if duplicates:
        return ParsedSource(source).fail_with(duplicates)
    return validate_document(document, source)


def read_registry(level: Level) -> list[ParsedSource]:
    """Read the Group Policy registry key for ``level``; empty where there is no registry."""
    if sys.platform != "win32":
        return []
    import winreg

    subkey = REGISTRY_KEY + (r"\Recommended" if level == "recommended" else "")
    source = "HKLM\\" + subkey
    try:
        handle = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, subkey)
    except OSError:
        return []
    values: dict[str, Any] = {}
    try:
        with handle:
            index = 0
            while True:
                try:
                    name, data, _kind = winreg.EnumValue(handle, index)
                except OSError:
                    break
                values[name] = data
                index += 1
    except OSError as exc:
        return [ParsedSource(source).fail(f"cannot be read: {exc}")]
    if not values:
        return []
    return [registry_document(values, source)]


def read_sources(root: Path, level: Level) -> list[ParsedSource]:
    """Every source of one level, weakest first: files in name order, then the registry."""
    return [*read_level_files(root, level), *read_registry(level)]


def read_all_sources(
    root: Path, trusted_uids: frozenset[int] = TRUSTED_UIDS
) -> tuple[list[ParsedSource], list[ParsedSource]]:
    """The managed and the recommended sources, with the policy root's own trust judged.

    Args:
        root: The policy root.
        trusted_uids: Owners that count as root (tests only).

    Returns:
        ``(managed, recommended)``, each weakest first. When a user could have moved or
        replaced the root, or managed policy is required but absent, ``managed`` starts with
        one fatal source saying so. Never raises for bad policy.
    """
    problem = ancestry_problem(root, trusted_uids)
    if problem:
        # Nothing under the root can be told apart from what a user put there (or took
        # away); the registry is a separate, administrator-only source and still counts.
        untrusted = ParsedSource(str(root)).fail(problem)
        return [untrusted, *read_registry("managed")], read_registry("recommended")
    managed = read_sources(root, "managed")
    recommended = read_sources(root, "recommended")
    required_by = policy_required_by(root)
    if required_by and not managed:
        missing = ParsedSource(str(root / "managed")).fail(
            f"managed policy is required ({required_by}) but none was found in "
            f"{root / 'managed'}: restore the managed policy files, or remove the marker if "
            "this machine should run without one"
        )
        managed = [missing]
    return managed, recommended

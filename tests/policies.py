"""Writing machine policy directories for tests: one way, shaped as an administrator would.

A root with ``managed/`` and ``recommended/`` (0755) and files (0644); the process's own uid
owns them, which is root in CI as on the machines Enclave is installed on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

POLICY_SCHEMA_VERSION = 1


def make_root(base: Path, name: str = "policies") -> Path:
    """An empty policy root under ``base`` with both level directories, modes as installed."""
    root = base / name
    for directory in (root, root / "managed", root / "recommended"):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o755)
    return root


def write_policy(root: Path, level: str, name: str, content: Any, mode: int = 0o644) -> Path:
    """Write one policy file as given: a dict (as JSON), str or bytes — also broken ones."""
    path = root / level / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    os.chmod(path, mode)
    return path


def policy_root(
    base: Path,
    managed: dict[str, Any] | str | None = None,
    recommended: dict[str, Any] | None = None,
    *,
    name: str = "policies",
    file_name: str = "10-site.json",
) -> Path:
    """A policy root with one managed and/or one recommended file.

    A dict gets ``schema_version`` added; a string is written as it is (a broken file).
    """
    root = make_root(base, name)
    for level, doc in (("managed", managed), ("recommended", recommended)):
        if doc is None:
            continue
        body = doc if isinstance(doc, str) else {"schema_version": POLICY_SCHEMA_VERSION, **doc}
        write_policy(root, level, file_name, body)
    return root

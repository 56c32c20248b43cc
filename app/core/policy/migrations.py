"""Upgrades of older policy documents to the current schema version.

``MIGRATIONS[n]`` turns a version-``n`` document into a version-``n + 1`` one. Version 1 is the
first schema, so the table is empty; a future version 2 adds ``MIGRATIONS[1]`` and bumps
``SCHEMA_VERSION``. Files are never rewritten on disk: migration happens on every load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.policy.schema import SCHEMA_VERSION

Document = dict[str, Any]

MIGRATIONS: dict[int, Callable[[Document], Document]] = {}


class UnknownSchemaVersion(ValueError):
    """The document's ``schema_version`` is missing, not an integer, or not one we know."""


def migrate(
    document: Document,
    current: int = SCHEMA_VERSION,
    migrations: dict[int, Callable[[Document], Document]] | None = None,
) -> Document:
    """Return ``document`` upgraded to schema version ``current``.

    Args:
        document: A parsed policy file (a JSON object).
        current: The version to reach.
        migrations: The upgrade table; ``MIGRATIONS`` unless a test passes its own.

    Returns:
        A new document whose ``schema_version`` is ``current``.

    Raises:
        UnknownSchemaVersion: if the version is missing, malformed, newer than ``current``
            or has no migration path.
    """
    if "schema_version" not in document:
        raise UnknownSchemaVersion("schema_version is missing (this build reads version 1)")
    version = document["schema_version"]
    # bool is an int subclass; `true` is not a version number.
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnknownSchemaVersion(f"schema_version must be an integer, not {version!r:.40}")
    if version < 1 or version > current:
        raise UnknownSchemaVersion(
            f"unknown schema_version {version} (this build reads 1 to {current})"
        )
    table = MIGRATIONS if migrations is None else migrations
    upgraded = dict(document)
    while version < current:
        step = table.get(version)
        if step is None:
            raise UnknownSchemaVersion(f"no migration from schema_version {version}")
        upgraded = step(upgraded)
        version += 1
        upgraded["schema_version"] = version
    return upgraded

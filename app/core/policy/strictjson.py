"""JSON as policy needs it: a duplicate key or a non-finite number is an error, not a choice.

``json.loads`` keeps the last of two equal keys; other readers (a text editor's outline,
``jq``, the administrator's review tool) may show the first. ``{"enabled": false,
"enabled": true}`` then reads as "off" to a reviewer and loads as "on". RFC 8259 leaves
duplicate names undefined and I-JSON (RFC 7493) forbids them; so do we, at any depth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DuplicateKey:
    """A key that appears more than once in one JSON object.

    Attributes:
        path: JSON path of the key (``$.connector.enabled``).
        key: The key itself.
        count: How many times it appears in that object.
    """

    path: str
    key: str
    count: int

    @property
    def reason(self) -> str:
        """The problem in an administrator's words, with what to do."""
        return (
            f"duplicate key {json.dumps(self.key, ensure_ascii=False)} (it appears "
            f"{self.count} times in this object; JSON readers disagree on which one counts): "
            "keep exactly one"
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def member_path(parent: str, key: str | int) -> str:
    """The JSON path of ``key`` (an object key or an array index) below ``parent``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if key.isidentifier():
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def loads(text: str) -> tuple[Any, list[DuplicateKey]]:
    """Parse JSON text and find every duplicate key, in document order.

    Args:
        text: The JSON text.

    Returns:
        The parsed value (last value wins, as ``json.loads``: use it only when the list is
        empty) and the duplicates.

    Raises:
        ValueError: The text is not JSON, or holds NaN or Infinity.
        RecursionError: The text nests too deeply.
    """
    # The hook sees each object's pairs but not where the object sits, so remember which
    # objects had duplicates and find their paths in one walk afterwards.
    repeated: dict[int, dict[str, int]] = {}

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for key, value in pairs:
            counts[key] = counts.get(key, 0) + 1
            obj[key] = value
        dups = {k: n for k, n in counts.items() if n > 1}
        if dups:
            repeated[id(obj)] = dups
        return obj

    document = json.loads(text, object_pairs_hook=hook, parse_constant=_reject_constant)
    if not repeated:
        return document, []
    found: list[DuplicateKey] = []
    # Iterative, not recursive: json.loads accepts nesting deeper than Python's stack.
    stack: list[tuple[str, Any]] = [("$", document)]
    while stack:
        path, value = stack.pop()
        children: list[tuple[str, Any]] = []
        if isinstance(value, dict):
            for key, count in repeated.get(id(value), {}).items():
                found.append(DuplicateKey(member_path(path, key), key, count))
            children = [(member_path(path, k), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(member_path(path, i), v) for i, v in enumerate(value)]
        stack.extend(reversed(children))
    return document, found

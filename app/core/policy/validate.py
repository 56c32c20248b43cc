"""Parse and validate one policy document, key by key.

Validation is per key so that the loader can decide, per level, what a bad key means: in a
managed file it is an error (restricted mode), in a recommended file the key is skipped and
the rest applies. Nothing here raises on bad input except :func:`check_file`, which raises the
typed :class:`PolicyFileError` on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from app.core.policy import strictjson
from app.core.policy.endpoints import endpoint_warnings
from app.core.policy.errors import PolicyFileError, PolicyIssue
from app.core.policy.migrations import UnknownSchemaVersion, migrate
from app.core.policy.schema import POLICY_KEYS, KeySpec, PolicyDocument

MAX_FILE_BYTES = 1 << 20
"""A policy file larger than this is refused unread (a real one is a few kilobytes)."""


@dataclass
class ParsedSource:
    """What one policy source contributes.

    Attributes:
        source: File path or registry key.
        values: Validated values by dotted key, as JSON-compatible data.
        issues: Every problem found.
        fatal: True when nothing in the source can be used (unreadable, bad JSON, duplicate
            keys, unknown schema version, untrusted): its content is unknown, not merely
            partly wrong.
        warnings: Valid settings an administrator should know about (an endpoint allowed
            over plain http); they never make a source unusable.
    """

    source: str
    values: dict[str, Any] = field(default_factory=dict)
    issues: list[PolicyIssue] = field(default_factory=list)
    fatal: bool = False
    warnings: list[PolicyIssue] = field(default_factory=list)

    def fail(self, reason: str, path: str = "$") -> ParsedSource:
        """Mark the whole source unusable for ``reason``; returns self."""
        return self.fail_with([PolicyIssue(self.source, path, reason)])

    def fail_with(self, issues: list[PolicyIssue]) -> ParsedSource:
        """Mark the whole source unusable for every one of ``issues``; returns self."""
        self.issues.extend(issues)
        self.values.clear()
        self.warnings.clear()
        self.fatal = True
        return self


def duplicate_issues(duplicates: list[strictjson.DuplicateKey], source: str,
                     prefix: str = "$") -> list[PolicyIssue]:
    """One issue per duplicate key, its path below ``prefix`` (a registry value's key)."""
    return [
        PolicyIssue(source, prefix + d.path.removeprefix("$"), d.reason) for d in duplicates
    ]


def _json_path(section: str, loc: tuple[int | str, ...]) -> str:
    path = f"$.{section}"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate_value(spec: KeySpec, value: Any, source: str) -> tuple[Any, list[PolicyIssue]]:
    """Validate one value for one key.

    Args:
        spec: The key.
        value: The raw value from the file or registry.
        source: Where it came from, for the issues.

    Returns:
        ``(validated JSON value, [])`` or ``(None, issues)``.
    """
    section_name = spec.key.split(".", 1)[0]
    try:
        model: BaseModel = spec.section.model_validate({spec.field: value})
        return model.model_dump(mode="json")[spec.field], []
    except ValidationError as exc:
        issues = [
            PolicyIssue(source, _json_path(section_name, err["loc"]), err["msg"], spec.key)
            for err in exc.errors(include_url=False)
        ]
        return None, issues
    except Exception as exc:  # a validator bug must not crash the loader: fail closed
        reason = f"cannot be validated ({type(exc).__name__})"
        return None, [PolicyIssue(source, f"$.{spec.key}", reason, spec.key)]


def validate_document(document: Any, source: str) -> ParsedSource:
    """Validate a parsed JSON document against the policy schema.

    Args:
        document: The parsed JSON (any type: bad files are reported, not raised).
        source: File path or registry key, for the issues.

    Returns:
        The usable values and every issue found.
    """
    result = ParsedSource(source)
    if not isinstance(document, dict):
        return result.fail(f"a policy file must be a JSON object, not {_json_type(document)}")
    try:
        document = migrate(document)
    except UnknownSchemaVersion as exc:
        return result.fail(str(exc), "$.schema_version")
    except Exception as exc:  # a migration that trips over odd input: fail closed
        return result.fail(f"cannot be migrated ({type(exc).__name__})", "$.schema_version")
    for section, body in document.items():
        if section == "schema_version":
            continue
        if section not in PolicyDocument.model_fields:
            result.issues.append(PolicyIssue(source, f"$.{section}", "unknown policy section"))
            continue
        if not isinstance(body, dict):
            reason = f"must be a JSON object, not {_json_type(body)}"
            result.issues.append(PolicyIssue(source, f"$.{section}", reason))
            continue
        for name, value in body.items():
            spec = POLICY_KEYS.get(f"{section}.{name}")
            if spec is None:
                result.issues.append(
                    PolicyIssue(source, f"$.{section}.{name}", "unknown policy key")
                )
                continue
            validated, issues = validate_value(spec, value, source)
            if issues:
                result.issues.extend(issues)
            else:
                result.values[spec.key] = validated
    result.warnings.extend(endpoint_warnings(result.values.get("connector.endpoints"), source))
    return result


def parse_bytes(data: bytes, source: str) -> ParsedSource:
    """Decode, parse and validate the bytes of one policy file."""
    if len(data) > MAX_FILE_BYTES:
        return ParsedSource(source).fail(f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        # utf-8-sig: Windows editors save policy files with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ParsedSource(source).fail(f"cannot be read: not UTF-8 text ({exc.reason})")
    try:
        document, duplicates = strictjson.loads(text)
    except RecursionError:
        return ParsedSource(source).fail("bad JSON: nested too deeply")
    except ValueError as exc:  # JSONDecodeError is a ValueError
        return ParsedSource(source).fail(f"bad JSON: {exc}")
    if duplicates:
        # Which of two values the administrator meant is unknown: nothing in the file counts.
        return ParsedSource(source).fail_with(duplicate_issues(duplicates, source))
    return validate_document(document, source)


def read_policy_file(path: Path) -> ParsedSource:
    """Read and validate one policy file (content only; trust is the loader's business)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return ParsedSource(str(path)).fail(f"cannot be read: {exc.strerror or exc}")
    return parse_bytes(data, str(path))


def validate_file(path: Path) -> list[PolicyIssue]:
    """Every problem in one policy file; empty when it is valid.

    Warnings (valid but risky settings) are not problems: :func:`read_policy_file` has them.
    """
    return read_policy_file(path).issues


def check_file(path: Path) -> None:
    """Check one policy file.

    Raises:
        PolicyFileError: listing every issue, when the file is not valid.
    """
    issues = validate_file(path)
    if issues:
        raise PolicyFileError(issues)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__

r"""The administrator's own redaction rules: custom terms and custom regular expressions.

Python's ``re`` has no timeout, and a pattern such as ``(a+)+$`` backtracks exponentially: a
request could hang the app on one unlucky message. Rather than running patterns under a
watchdog (a thread cannot be stopped, a subprocess per request is slow), a pattern is checked
once, when the redactor is built, and refused when it can backtrack catastrophically:

* longer than ``MAX_PATTERN_CHARS`` characters, or more than ``MAX_PATTERNS`` patterns;
* an unbounded or multi-step repeat whose body holds another such repeat (``(a+)+``,
  ``(\w*\s?)*``), an alternation (``(a|ab)*``) or a back-reference.

Possessive repeats and atomic groups cannot backtrack and are always accepted, so an
administrator who needs ``(foo|bar)+`` writes ``(?:foo|bar)++``. A refused pattern fails
closed: the redactor cannot be built, so no request leaves.

Like every recognizer, terms and patterns run on the folded text (NFKC, no invisible
characters, case-folded: :mod:`app.core.guard.normalize`), so a fullwidth, zero-width-split
or oddly cased term is still found. Patterns are compiled case-insensitively for the same
reason: ``[A-Z]{3}-\d+`` also matches ``abc-1``, which errs toward redacting.
"""

from __future__ import annotations

import re
from typing import Any

from app.core.errors import EnclaveError, ExitCode
from app.core.guard.normalize import fold

MAX_PATTERN_CHARS = 512
MAX_PATTERNS = 200
MAX_TERMS = 5000


class UnsafePattern(EnclaveError):
    """An administrator's redaction rule cannot be used safely, so nothing may leave."""

    exit_code = ExitCode.CONFIGURATION


def _parse(pattern: str) -> Any:
    import re._parser as sre_parse  # the stdlib's own parser; sre_parse warns on import

    return sre_parse.parse(pattern)


def _ops() -> tuple[set[Any], Any, Any, Any]:
    from re._constants import (  # type: ignore[import-not-found, unused-ignore]
        ATOMIC_GROUP,
        BRANCH,
        GROUPREF,
        GROUPREF_EXISTS,
        MAX_REPEAT,
        MIN_REPEAT,
    )

    return {MAX_REPEAT, MIN_REPEAT}, BRANCH, {GROUPREF, GROUPREF_EXISTS}, ATOMIC_GROUP


def _children(op: Any, av: Any) -> list[Any]:
    """The sub-patterns nested in one parsed item."""
    found: list[Any] = []
    if type(av).__name__ == "SubPattern":
        found.append(av)
    elif isinstance(av, tuple | list):
        for item in av:
            found.extend(_children(op, item))
    return found


def _risky_inside(sub: Any, repeats: set[Any], branch: Any, refs: set[Any], atomic: Any) -> bool:
    """Whether a repeat body holds something that makes the outer repeat ambiguous."""
    for op, av in sub:
        if op in repeats and av[1] > 1:
            return True
        if op is branch or op in refs:
            return True
        if op is atomic:
            continue
        if any(_risky_inside(c, repeats, branch, refs, atomic) for c in _children(op, av)):
            return True
    return False


def _has_nested_repeat(sub: Any, ops: tuple[set[Any], Any, Any, Any]) -> bool:
    repeats, branch, refs, atomic = ops
    for op, av in sub:
        if op is atomic:
            continue
        if op in repeats and av[1] > 1 and _risky_inside(av[2], repeats, branch, refs, atomic):
            return True
        if any(_has_nested_repeat(c, ops) for c in _children(op, av)):
            return True
    return False


def compile_custom_pattern(pattern: str, index: int) -> re.Pattern[str]:
    """Compile one administrator pattern, refusing any that could hang the redactor.

    Args:
        pattern: The regular expression from ``redaction.custom_patterns``.
        index: Its position in the policy list (for the message).

    Raises:
        UnsafePattern: too long, not valid, or able to backtrack catastrophically.
    """
    where = f"redaction.custom_patterns[{index}]"
    hint = "Ask your administrator to fix the redaction policy; until then nothing leaves."
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsafePattern(f"{where} is longer than {MAX_PATTERN_CHARS} characters.", hint)
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
        parsed = _parse(pattern)
    except Exception as exc:  # re.error, OverflowError, RecursionError: all mean "unusable"
        raise UnsafePattern(f"{where} is not a valid regular expression ({exc}).", hint) from None
    if _has_nested_repeat(parsed, _ops()):
        raise UnsafePattern(
            f"{where} nests a repeat inside a repeat (or repeats an alternation), which can "
            "take exponential time on some texts.",
            "Use a possessive repeat such as (?:a|b)++ or a bounded one; " + hint,
        )
    if compiled.match(""):
        raise UnsafePattern(f"{where} matches empty text.", hint)
    return compiled


def compile_custom_patterns(patterns: list[str]) -> list[re.Pattern[str]]:
    """Compile every administrator pattern (see :func:`compile_custom_pattern`)."""
    if len(patterns) > MAX_PATTERNS:
        raise UnsafePattern(
            f"redaction.custom_patterns holds {len(patterns)} patterns; at most {MAX_PATTERNS}.",
            "Ask your administrator to merge patterns.",
        )
    return [compile_custom_pattern(p, i) for i, p in enumerate(patterns)]


# A plural or possessive ending is still the term: "NIGHTJARS", "Nightjar's", "nightjars'".
_SUFFIX = r"(?:['\u2019]s|s['\u2019]|es|s|['\u2019])?"


def compile_terms(terms: list[str]) -> re.Pattern[str] | None:
    """One whole-word pattern over folded text for every custom term (longest first).

    Whole word means not glued to a letter, digit or underscore, except for a plural or
    possessive ending, so the term ``Falcon`` hides "falcon", "FALCONS" and "Falcon's" but
    not "Falconer". Terms are folded like the text they are matched against.
    """
    folded = {" ".join(fold(t).split()) for t in terms}
    cleaned = sorted((t for t in folded if t), key=len, reverse=True)
    if not cleaned:
        return None
    if len(cleaned) > MAX_TERMS:
        raise UnsafePattern(
            f"redaction.custom_terms holds {len(cleaned)} terms; at most {MAX_TERMS}.",
            "Ask your administrator to shorten the list.",
        )
    # Runs of whitespace inside a term match any whitespace: "Project  Falcon" over two lines.
    alternatives = "|".join(r"\s+".join(map(re.escape, t.split())) for t in cleaned)
    return re.compile(rf"(?<!\w)(?:{alternatives}){_SUFFIX}(?!\w)")

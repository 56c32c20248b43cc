"""Administrator patterns: refused when they could hang the redactor."""

from __future__ import annotations

import time

import pytest

from app.core.guard.custom import MAX_PATTERN_CHARS, UnsafePattern, compile_custom_pattern
from app.core.guard.redact import Redactor


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(a|ab)*c", r"(\w*\s?)*x", r"(a{1,10}){1,10}", "x*", "(", "a" * 600]
)
def test_dangerous_or_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(UnsafePattern) as caught:
        compile_custom_pattern(pattern, 3)
    assert "redaction.custom_patterns[3]" in caught.value.message


@pytest.mark.parametrize(
    "pattern", [r"\bPRJ-\d{4}\b", r"(?:foo|bar)++", r"(?>a+)+b", r"[A-Z]{3}-\d+", r"(ab){2,5}"]
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    compile_custom_pattern(pattern, 0)


def test_a_refused_pattern_fails_closed() -> None:
    with pytest.raises(UnsafePattern):
        Redactor(custom_patterns=[r"\bok\b", r"(x+x+)+y"])


def test_an_accepted_possessive_pattern_stays_fast_on_hostile_text() -> None:
    r = Redactor(custom_patterns=[r"(?:a|aa)++b"])
    started = time.perf_counter()
    r.redact("a" * 5000 + "c")
    assert time.perf_counter() - started < 1
    assert MAX_PATTERN_CHARS == 512

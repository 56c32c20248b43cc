"""Input is made safe once, at the core: any text, any integer."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.engines.base import GenerationParams
from app.core.inputs import (
    MAX_MESSAGE_CHARS,
    SQLITE_INT_MAX,
    InvalidInput,
    clean_message,
    clean_text,
    in_range,
    row_id,
)
from app.core.settings import InvalidSettingValue, validate_generation
from app.core.transcript import with_overrides


@given(st.binary(max_size=200))
def test_any_bytes_from_argv_or_stdin_become_text_a_utf8_reader_would_show(raw: bytes) -> None:
    # Python hands invalid UTF-8 in argv/stdin over as surrogateescape'd text.
    text = raw.decode("utf-8", "surrogateescape")
    cleaned = clean_text(text)
    cleaned.encode("utf-8")  # storable, printable, sendable: never raises
    assert cleaned == raw.decode("utf-8", "replace").replace("\x00", "\ufffd")


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200))
def test_any_python_string_becomes_encodable_and_valid_text_is_unchanged(text: str) -> None:
    cleaned = clean_text(text)
    cleaned.encode("utf-8")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert cleaned == text.replace("\x00", "\ufffd")


def test_a_message_beyond_the_limit_is_refused_with_its_size() -> None:
    with pytest.raises(InvalidInput, match="too long"):
        clean_message("x" * (MAX_MESSAGE_CHARS + 1))
    assert clean_message("fine") == "fine"


@given(st.integers())
def test_row_ids_are_exactly_the_positive_64_bit_integers(value: int) -> None:
    assert (row_id(value) is not None) == (1 <= value <= SQLITE_INT_MAX)


@pytest.mark.parametrize("value", [-1, 2**63, 2**64, 10**20, True, 1.5, "3"])
def test_in_range_refuses_everything_outside_or_not_an_int(value: object) -> None:
    with pytest.raises(InvalidInput):
        in_range(value, "limit")  # type: ignore[arg-type]


FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10))


@given(temperature=FLOATS, top_p=FLOATS)
def test_sampling_overrides_are_in_bounds_or_refused_with_a_typed_error(
    temperature: float, top_p: float
) -> None:
    try:
        params = with_overrides(GenerationParams(), temperature=temperature, top_p=top_p)
    except InvalidSettingValue:
        return
    assert math.isfinite(params.temperature) and 0 <= params.temperature <= 2
    assert math.isfinite(params.top_p) and 0 < params.top_p <= 1


@given(max_tokens=st.integers(), top_k=st.integers(), seed=st.integers())
def test_integer_overrides_of_any_size_are_in_bounds_or_refused(
    max_tokens: int, top_k: int, seed: int
) -> None:
    try:
        params = with_overrides(GenerationParams(), max_tokens=max_tokens, top_k=top_k, seed=seed)
    except InvalidSettingValue:
        return
    assert 1 <= params.max_tokens <= 1_048_576
    assert 0 <= params.top_k <= 1_000_000
    assert -1 <= params.seed < 2**32


@pytest.mark.parametrize(
    "changes",
    [{"max_tokens": -5}, {"max_tokens": 0}, {"temperature": math.nan}, {"temperature": -1},
     {"temperature": math.inf}, {"top_p": 2}, {"top_p": math.nan}, {"top_p": 0},
     {"seed": 2**70}],
)
def test_the_values_the_tester_tried_are_refused(changes: dict[str, float]) -> None:
    with pytest.raises(InvalidSettingValue):
        validate_generation(**changes)


@given(st.text())
def test_a_title_and_a_prompt_name_are_cleaned_by_one_rule(typed: str) -> None:
    from app.core.history_actions import MAX_TITLE_CHARS, clean_title
    from app.core.inputs import one_line
    from app.core.policy.schema_prompts import normal_name

    line = one_line(typed)
    assert normal_name(typed) == line and one_line(line) == line
    assert "\n" not in line and "\x00" not in line and line == line.strip()
    if line and len(line) <= MAX_TITLE_CHARS:
        assert clean_title(typed) == line

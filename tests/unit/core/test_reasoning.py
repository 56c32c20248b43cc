"""Reasoning in an answer: what is thinking, what is the answer, in every shape models write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.reasoning import MARKER_PAIRS, split_reasoning, without_reasoning

OPENERS = [o for o, _ in MARKER_PAIRS]


@pytest.mark.parametrize(("text", "thinking", "answer", "still_open"), [
    ("Paris.", "", "Paris.", False),
    ("<think>France's capital.</think>Paris.", "France's capital.", "Paris.", False),
    ("<think>\nstep 1\n</think>\n\nParis.", "step 1", "Paris.", False),
    ("<THINK>Loud.</Think>Quiet.", "Loud.", "Quiet.", False),
    ("<thinking>a</thinking>b", "a", "b", False),
    ("<reasoning>a</reasoning>b", "a", "b", False),
    ("<|begin_of_thought|>a<|end_of_thought|>b", "a", "b", False),
    # The template opened the block in the prompt: a lone closer ends the reasoning.
    ("working it out</think>Paris.", "working it out", "Paris.", False),
    ("</think>Paris.", "", "Paris.", False),
    # Stopped mid-thought: the block never closed.
    ("<think>still going", "still going", "", True),
    ("Intro <think>unfinished", "unfinished", "Intro", True),
    ("<think>a</think>b<think>c</think>d", "a\n\nc", "bd", False),
    # A closer after a finished block is the answer's own text.
    ("<think>a</think>b</think>", "a", "b</think>", False),
    # gpt-oss harmony channels.
    ("<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final"
     "<|message|>Paris.", "Think.", "Paris.", False),
    ("<|channel|>final<|message|>Paris.", "", "Paris.", False),
    ("<|end|> is how harmony ends a message", "", "<|end|> is how harmony ends a message",
     False),
    # Pieces that spell a marker only once a block is taken out open no block in the answer.
    ("<thi<think>x</think>nk>tail", "x\n\ntail", "", True),
])
def test_split_reasoning(text: str, thinking: str, answer: str, still_open: bool) -> None:
    got = split_reasoning(text)
    assert (got.thinking, got.answer, got.open) == (thinking, answer, still_open)
    assert without_reasoning(text) == answer
    assert got.has_thinking == (bool(thinking) or still_open)


def test_an_answer_without_reasoning_is_kept_exactly() -> None:
    text = "  Two spaces, a <b>tag</b>, and a trailing newline.\n"
    assert split_reasoning(text).answer == text


_pieces = st.sampled_from([
    *OPENERS, *(c for _, c in MARKER_PAIRS), "<|start|>assistant<|channel|>final<|message|>",
    "<", ">", "|", "/", "th", "ink", "think", "ing", "<thi", "nk>", " ", "\n", "Paris", "é",
])


def _cased(piece: str, upper: bool) -> str:
    return piece.upper() if upper else piece


@given(st.lists(st.tuples(_pieces, st.booleans()), max_size=30))
def test_the_answer_never_opens_a_block(parts: list[tuple[str, bool]]) -> None:
    text = "".join(_cased(p, u) for p, u in parts)
    answer = split_reasoning(text).answer.lower()
    assert not any(o in answer for o in OPENERS), (text, answer)


@given(st.text(max_size=200))
def test_any_text_splits_without_error_and_loses_nothing_but_markers(text: str) -> None:
    got = split_reasoning(text)
    if not got.has_thinking:
        assert got.answer == text
    assert len(got.thinking) + len(got.answer) <= len(text) + 2 * got.thinking.count("\n\n")

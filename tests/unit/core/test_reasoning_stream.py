"""Streamed reasoning: every chunking of an answer gives the same pieces as the whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.reasoning import MARKER_PAIRS, split_reasoning
from app.core.reasoning_stream import Piece, ReasoningStream

OPENERS = [o for o, _ in MARKER_PAIRS]


def run(chunks: list[str]) -> list[Piece]:
    stream = ReasoningStream()
    out: list[Piece] = []
    for chunk in chunks:
        out += stream.feed(chunk)
    out += stream.finish()
    return coalesce(out)


def coalesce(pieces: list[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for p in pieces:
        if merged and merged[-1].kind == p.kind:
            merged[-1] = Piece(p.kind, merged[-1].text + p.text)
        else:
            merged.append(p)
    return merged


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    edges = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def test_a_marker_cut_across_pieces_is_still_a_marker() -> None:
    got = run(["<thi", "nk>Weighing it", " up</th", "INK>", "\n\nParis."])
    assert got == [Piece("thinking", "Weighing it up"), Piece("answer", "Paris.")]


def test_thinking_says_whether_the_stream_is_inside_a_block() -> None:
    stream = ReasoningStream()
    assert stream.feed("<think>hm") == [Piece("thinking", "hm")]
    assert stream.thinking
    assert stream.feed("m</think>Yes") == [Piece("thinking", "m"), Piece("answer", "Yes")]
    assert not stream.thinking


def test_text_that_only_looks_like_a_marker_start_is_released_at_the_end() -> None:
    stream = ReasoningStream()
    assert stream.feed("a <") == [Piece("answer", "a ")]
    assert stream.finish() == [Piece("answer", "<")]


def test_a_lone_closer_retracts_what_was_shown_as_the_answer() -> None:
    got = run(["The user wants", " a capital.</thi", "nk>Paris."])
    assert got == [Piece("answer", "The user wants a capital."),
                   Piece("retracted", "The user wants a capital."), Piece("answer", "Paris.")]


def test_harmony_channels() -> None:
    got = run(["<|channel|>analysis<|mess", "age|>Think.<|end|><|start|>assist",
               "ant<|channel|>final<|message|>Paris."])
    assert got == [Piece("thinking", "Think."), Piece("answer", "Paris.")]


_words = st.sampled_from(["Paris", " ", "\n", "é", "answer", "x", "<", "think", ">"])
_markers = st.sampled_from([
    *OPENERS, *(c for _, c in MARKER_PAIRS), "<|start|>assistant<|channel|>final<|message|>",
    "<|channel|>final<|message|>",
])


@st.composite
def answers(draw: st.DrawFn, words: st.SearchStrategy[str] = _words) -> str:
    parts = draw(st.lists(st.one_of(words, _markers), max_size=25))
    return "".join(p.upper() if draw(st.booleans()) else p for p in parts)


@given(answers(), st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_every_chunking_gives_the_same_pieces(text: str, cuts: list[int]) -> None:
    assert run(chunked(text, cuts)) == run([text])


@given(answers())
def test_one_character_at_a_time_gives_the_same_pieces(text: str) -> None:
    assert run(list(text)) == run([text])


def _squeezed(text: str) -> str:
    return "".join(text.split())


# Plain words that cannot spell a marker: here the stream and the whole-text split agree.
_plain = st.sampled_from(["Paris", " ", "\n", "é", "answer", "x"])


@given(answers(_plain), st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_the_stream_agrees_with_split_reasoning(text: str, cuts: list[int]) -> None:
    pieces = run(chunked(text, cuts))
    last_retract = max((i for i, p in enumerate(pieces) if p.kind == "retracted"), default=-1)
    answer = "".join(p.text for p in pieces[last_retract + 1:] if p.kind == "answer")
    thinking = "".join(p.text for p in pieces if p.kind in ("thinking", "retracted"))
    whole = split_reasoning(text)
    assert answer.rstrip() == whole.answer.strip()
    assert _squeezed(thinking) == _squeezed(whole.thinking)
    for p in pieces:
        if p.kind == "answer":
            assert not any(o in p.text.lower() for o in OPENERS)


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_nothing_to_say_gives_no_pieces(text: str) -> None:
    assert run([text]) == []

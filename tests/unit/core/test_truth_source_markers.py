"""Source markers a model copies into its answer never reach the reader.

Whatever the spelling (exact, fewer brackets, any case, zero-width characters inside) and
however the stream cuts the answer into pieces, no marker is left; text without markers comes
back as it was.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.core.source_markers import MarkerFilter, removed_note, strip_source_markers

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
# An independent check: any bracket run followed (past invisible characters) by SOURCE.
_LEFT = re.compile(r"[<‹«＜〈⟨]+[ \t]*(?:[a-z]+[ \t_-]+){0,2}sources?(?![a-z])[^\n]*?"
                   r"(?:\d|[>›»＞〉⟩])", re.IGNORECASE)
_INVISIBLE = re.compile("[" + "".join(ZERO_WIDTH) + "]")
_BRACKETS = re.compile("[<>‹›«»＜＞〈〉⟨⟩]")


def marker_left(text: str) -> bool:
    return _LEFT.search(_INVISIBLE.sub("", text)) is not None


def streamed(text: str, cuts: list[int]) -> tuple[str, int]:
    f = MarkerFilter()
    pieces, last = [], 0
    for cut in sorted({c % (len(text) + 1) for c in cuts}):
        pieces.append(f.feed(text[last:cut]))
        last = cut
    pieces.append(f.feed(text[last:]))
    pieces.append(f.flush())
    return "".join(pieces), f.removed


COPIED = [
    "<<<SOURCE 2 k7q2m9xa: report.pdf p.3>>>",
    "<<<END SOURCE 2 k7q2m9xa>>>",
    "<<<END SOURCE 2>>",
    "<<<SOURCE 4: climate_change.md>",
    "<<SOURCE 1>>>",
    "<<<source 3: notes.md>>>",
    "<<<End Source 1>>>",
    "<<<SO\u200bURCE 1>>>",
    "<\u200d<<SOURCE 1\u2060>>>",
    "‹‹‹SOURCE 1: defused.md›››",
    "<<<SUGGESTED SOURCE 1>>",
    "<SOURCE 5>",
    "<<<SOURCE 1: facilities.pdf p.2",  # cut off at the end of the answer
]


@pytest.mark.parametrize("marker", COPIED)
def test_each_copied_marker_is_taken_out(marker: str) -> None:
    text = f"The generator is tested on Tuesdays [1].\n{marker}\nSee the handbook."
    out, removed = strip_source_markers(text)
    assert removed == 1 and not marker_left(out)
    assert "The generator is tested on Tuesdays [1]." in out and "See the handbook." in out
    for step in (1, 2, 3, 5):  # the same, however the stream cuts it
        assert streamed(text, list(range(0, len(text), step))) == (out, removed)


KEPT = [
    "a < b and c > d",
    "x << 2 >> 1",
    "cat <<EOF\nhello\nEOF",
    '<video><source src="clip.mp4" type="video/mp4"></video>',
    "Open-source software [2] is cited <here>.",
    "<<<",
    "SOURCE 1 says so.",
    "<<RESOURCES>>",
    "Use <b>bold</b> and « quotes ».",
]


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_keeps_its_brackets(text: str) -> None:
    assert strip_source_markers(text) == (text, 0)
    assert streamed(text, list(range(len(text)))) == (text, 0)


@st.composite
def markers(draw: st.DrawFn) -> str:
    opener = draw(st.sampled_from("<‹«＜"))
    n_open = draw(st.integers(1, 4))
    numbered = draw(st.booleans()) or n_open == 1
    words = [draw(st.sampled_from(["", "END ", "end_", "Suggested "]))] if n_open > 1 \
        else [draw(st.sampled_from(["", "END "]))]
    keyword = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in "source")
    body = ""
    if numbered:
        body += f" {draw(st.integers(1, 99))}"
    if draw(st.booleans()):
        body += " " + draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=8,
                                   max_size=8))
    if draw(st.booleans()):
        body += ": " + draw(st.text(st.characters(blacklist_characters="\n<>‹›«»＜＞〈〉⟨⟩",
                                                  blacklist_categories=("Cs",)),
                                    max_size=30))
    closer = draw(st.sampled_from(">›»＞")) * draw(st.integers(1, 4))
    marker = opener * n_open + "".join(words) + keyword + body + closer
    chars = list(marker)
    for _ in range(draw(st.integers(0, 3))):  # zero-width characters anywhere inside
        chars.insert(draw(st.integers(1, len(chars) - 1)), draw(st.sampled_from(ZERO_WIDTH)))
    return "".join(chars)


plain_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80).filter(
    lambda t: "source" not in _INVISIBLE.sub("", t).casefold())


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(plain_text, min_size=1, max_size=5),
       inserted=st.lists(markers(), min_size=1, max_size=4),
       cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_markers_inserted_anywhere_come_out_however_the_stream_is_cut(
    pieces: list[str], inserted: list[str], cuts: list[int]
) -> None:
    n = max(len(pieces), len(inserted) + 1)
    padded = [*pieces, *[""] * (n - len(pieces))]
    text = padded[0] + "".join(
        (inserted[i - 1] if i <= len(inserted) else "") + padded[i] for i in range(1, n))
    whole, removed = strip_source_markers(text)
    assert not marker_left(whole)
    assert removed >= 1
    # What stays is the text around the markers (a bracket right beside one may go with it).
    original = "".join(pieces)
    assert _BRACKETS.sub("", whole) == _BRACKETS.sub("", original)
    assert streamed(text, cuts) == (whole, removed)


@settings(max_examples=400, deadline=None)
@given(text=plain_text, cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_text_without_markers_is_unchanged_whole_or_streamed(text: str, cuts: list[int]) -> None:
    assume(not marker_left(text))
    assert strip_source_markers(text) == (text, 0)
    assert streamed(text, cuts) == (text, 0)


def test_normal_text_is_not_held_back_for_long() -> None:
    f = MarkerFilter()
    shown = [f.feed(piece) for piece in ["The answer", " is 4", " < 5", " and", " more."]]
    assert shown[0] == "The answer" and shown[1] == " is 4"
    assert "".join(shown) + f.flush() == "The answer is 4 < 5 and more."
    assert "".join(shown[:4]).endswith("< 5 and") or "".join(shown[:5]).endswith("more.")


def test_the_note_counts_what_was_removed() -> None:
    assert removed_note(2) == "Removed 2 copied source markers from the answer."
    assert removed_note(1) == "Removed 1 copied source marker from the answer."


def test_a_header_copied_before_a_long_line_loses_its_number_and_tag() -> None:
    text = ("<<<SOURCE 1 k7q2m9xa: New staff receive a laptop on their first day, and the "
            "travel desk books their flights two weeks ahead.\nThat is all.")
    out, removed = strip_source_markers(text)
    assert removed == 1 and not marker_left(out) and "SOURCE" not in out
    assert "New staff receive a laptop on their first day" in out
    assert streamed(text, list(range(0, len(text), 3))) == (out, removed)

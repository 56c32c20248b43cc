"""Disguised text is matched as what it reads as; findings map back to the original characters.

Every recognizer runs on text that is NFKC-normalised, stripped of invisible format characters
and case-folded, so fullwidth letters, zero-width spaces and odd casing change nothing; the
region replaced in the original covers every original character of the finding, the invisible
ones inside it included.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.guard.redact import Redactor, restore

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u034f",
             "\ufe0f", "\u2061", "\u202e"]
PLACEHOLDER = re.compile(r"<TERM_\d+_[a-z0-9]+>")


def _fullwidth(c: str) -> str:
    return chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c


@st.composite
def disguised(draw: st.DrawFn, word: str) -> str:
    """``word`` with random casing, fullwidth letters and invisible characters between letters."""
    out = []
    for i, c in enumerate(word):
        if c == " ":
            out.append(draw(st.sampled_from([" ", "  ", "\n", "\u00a0", "\u3000", "\t"])))
            continue
        c = c.upper() if draw(st.booleans()) else c.lower()
        if draw(st.integers(0, 3)) == 0:
            c = _fullwidth(c)
        out.append(c)
        if i < len(word) - 1 and word[i + 1] != " " and draw(st.integers(0, 2)) == 0:
            out.append(draw(st.sampled_from(INVISIBLE)))
    return "".join(out)


_WORD = st.text(string.ascii_letters, min_size=3, max_size=10)
_TERM = st.lists(_WORD, min_size=1, max_size=3).map(" ".join)
_SUFFIX = st.sampled_from(["", "s", "S", "es", "ES", "'s", "’s", "s'", "ｓ"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TERM, st.data())
def test_a_disguised_custom_term_is_redacted_whole(term: str, data: st.DataObject) -> None:
    shown = data.draw(disguised(term)) + data.draw(_SUFFIX)
    text = f"Report on {shown} today."
    result = Redactor(custom_terms=[term]).redact(text)
    assert result.counts == {"TERM": 1}, (term, shown, result.text)
    # The whole disguised word, its invisible characters and its suffix are gone.
    assert PLACEHOLDER.fullmatch(result.text[len("Report on "):-len(" today.")]), result.text
    assert restore(result.text, result.mapping) == text


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("Nightjar", "NIGHTJARS are out"),
        ("Nightjar", "the nightjar's nest"),
        ("Nightjar", "NIGHT\u200bJAR"),
        ("Nightjar", "ＮＩＧＨＴＪＡＲ"),
        ("Nightjar", "ｎｉｇｈｔｊａｒｓ"),
        ("Ｎｉｇｈｔｊａｒ", "nightjar"),
        ("Night\u200bjar", "nightjar"),
        ("Straße", "STRASSE"),
        ("Café Noir", "CAFE\u0301 NOIR"),
        ("Operation Nightjar", "operation\u00a0nightjar"),
        ("Operation Nightjar", "OPERATION\n NIGHTJAR"),
    ],
)
def test_a_custom_term_matches_what_it_reads_as(term: str, text: str) -> None:
    result = Redactor(custom_terms=[term]).redact(text)
    assert result.counts.get("TERM") == 1, result.text
    assert restore(result.text, result.mapping) == text


@pytest.mark.parametrize("text", ["Nightjarring", "nightjarism", "xnightjar", "Nightjar2"])
def test_a_custom_term_inside_another_word_is_left_alone(text: str) -> None:
    assert Redactor(custom_terms=["Nightjar"]).redact(text).counts == {}


@pytest.mark.parametrize(
    ("text", "original"),
    [
        ("mail ａｌｉｃｅ＠ｃｏｒｐ．ｅｘａｍｐｌｅ now", "ａｌｉｃｅ＠ｃｏｒｐ．ｅｘａｍｐｌｅ"),
        ("mail alice@co\u200brp.example now", "alice@co\u200brp.example"),
        ("key AKIA\u200bIOSFODNN7EXAMPLE now", "AKIA\u200bIOSFODNN7EXAMPLE"),
        ("card ４１１１ １１１１ １１１１ １１１１ now", "４１１１ １１１１ １１１１ １１１１"),
        ("ssn 123\u200b-45-6780 now", "123\u200b-45-6780"),
    ],
)
def test_every_recognizer_sees_through_disguises(text: str, original: str) -> None:
    result = Redactor().redact(text)
    assert original not in result.text and result.found == 1, result.text
    assert result.mapping[result.text.split()[1]] == original


def test_every_format_character_of_this_python_is_invisible() -> None:
    import sys
    import unicodedata

    from app.core.guard.normalize import INVISIBLE

    missing = [f"U+{c:04X}" for c in range(sys.maxunicode + 1)
               if unicodedata.category(chr(c)) == "Cf" and not INVISIBLE.fullmatch(chr(c))]
    assert missing == [], "a newer Unicode database added format characters"


_MIXED = st.lists(st.sampled_from(
    list("abcXYZ 09.-@") + ["ß", "İ", "ﬁ", "é", "e\u0301", "Ａ", "１", "\u200b", "\u00ad",
                            "\ufe0f", "ǅ", "ﬃ", "\u0301", "Ω", "К", "\U0001d400", "①"]
), max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(_MIXED, st.data())
def test_a_folded_span_maps_back_to_the_characters_that_made_it(
    text: str, data: st.DataObject
) -> None:
    from app.core.guard.normalize import fold, normalize

    folded = normalize(text)
    assert folded.folded == fold(text)
    if not folded.folded:
        return
    i = data.draw(st.integers(0, len(folded.folded) - 1))
    j = data.draw(st.integers(i + 1, len(folded.folded)))
    start, end = folded.span(i, j)
    assert 0 <= start < end <= len(text)
    assert folded.folded[i:j] in fold(text[start:end])

"""What text reads as: the form every recognizer matches, and the way back to the original.

Hostile input hides a word from a pattern without hiding it from a reader (or a model):
fullwidth letters (``ＮＩＧＨＴＪＡＲ``), a zero-width space inside the word, a soft hyphen, odd
casing. Every recognizer therefore runs on the *folded* text: NFKC-normalised, stripped of
invisible characters (Unicode category Cf, plus the default-ignorable marks that are not Cf,
such as variation selectors and the combining grapheme joiner) and case-folded.

Folding changes lengths (``ß`` becomes ``ss``, ``e`` + U+0301 becomes ``é``, a zero-width space
disappears), so :class:`Folded` keeps a piecewise map from folded offsets back to original
ones. A finding at ``[start, end)`` in the folded text covers ``span(start, end)`` in the
original: every original character that folded into it, including invisible characters
inside it. Invisible characters just outside a finding stay where they are.

ASCII text, the common case, folds with one ``str.lower()`` and an identity map.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field

# Unicode 15.1's format characters (category Cf); a test checks that this Python's own Cf set
# is inside it, so a newer Unicode database cannot add an invisible character unnoticed.
_CF = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# Default-ignorable code points that are not Cf: they render as nothing, so they are as good
# as a zero-width space for splitting a word (combining grapheme joiner, Hangul fillers, Khmer
# inherent vowels, Mongolian variation selectors, variation selectors).
_IGNORABLE_MARKS = (
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef"
)
INVISIBLE = re.compile(f"[{_CF}{_IGNORABLE_MARKS}]")
"""Characters that fold to nothing."""

# A run of non-ASCII characters with the ASCII character before it, which a combining mark at
# the start of the run composes with (``e`` + U+0301).
_SPECIAL_RUN = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]+")


def fold(text: str) -> str:
    """The folded form of ``text`` (what the recognizers see); see :class:`Folded`."""
    return normalize(text).folded


def display_form(text: str) -> str:
    """NFKC without invisible characters but with case kept: what a checksum should read."""
    return INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


@dataclass(frozen=True)
class Folded:
    """A text's folded form and the map back to its original characters.

    Attributes:
        original: The text as given.
        folded: NFKC, invisible characters removed, case-folded.
    """

    original: str
    folded: str
    # Segment i starts at _norm[i] in ``folded`` and _orig[i] in ``original``. A linear segment
    # maps character for character; any other maps as a whole (one original cluster). Empty
    # when the whole text is linear (ASCII).
    _norm: list[int] = field(default_factory=list, repr=False)
    _orig: list[int] = field(default_factory=list, repr=False)
    _linear: list[bool] = field(default_factory=list, repr=False)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that folded into ``folded[start:end]`` (``start < end``)."""
        if not self._norm:
            return start, end
        i = bisect_right(self._norm, start) - 1
        o_start = self._orig[i] + (start - self._norm[i]) if self._linear[i] else self._orig[i]
        j = bisect_right(self._norm, end - 1) - 1
        if self._linear[j]:
            o_end = self._orig[j] + (end - self._norm[j])
        else:
            o_end = self._orig[j + 1] if j + 1 < len(self._orig) else len(self.original)
        return o_start, o_end

    def display(self, start: int, end: int) -> str:
        """The original characters of a folded span in display form (case kept)."""
        o_start, o_end = self.span(start, end)
        piece = self.original[o_start:o_end]
        return piece if piece.isascii() else display_form(piece)


class _Builder:
    """Accumulates folded pieces and the segments that map them back."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.norm: list[int] = []
        self.orig: list[int] = []
        self.linear: list[bool] = []
        self.n = 0  # folded length so far

    def add(self, orig_start: int, orig_len: int, folded: str, linear: bool) -> None:
        if linear and self.linear and self.linear[-1] and (
            orig_start - self.orig[-1] == self.n - self.norm[-1]
        ):
            pass  # continues the previous linear segment at the same offset
        else:
            self.norm.append(self.n)
            self.orig.append(orig_start)
            self.linear.append(linear)
        self.parts.append(folded)
        self.n += len(folded)

    def add_run(self, run: str, at: int) -> None:
        """Fold a non-ASCII run that starts at ``at`` in the original."""
        if (
            INVISIBLE.search(run) is None
            and unicodedata.is_normalized("NFKC", run)
            and len(folded := run.casefold()) == len(run)
        ):
            # Case folding maps each character to at least one: equal length means one each.
            self.add(at, len(run), folded, True)
            return
        i = 0
        while i < len(run):
            j = i + 1
            while j < len(run) and unicodedata.combining(run[j]):
                j += 1
            cluster = run[i:j]
            if INVISIBLE.fullmatch(cluster):
                self.add(at + i, j - i, "", False)
            else:
                out = unicodedata.normalize("NFKC", INVISIBLE.sub("", cluster)).casefold()
                self.add(at + i, j - i, out, len(out) == len(cluster) == 1)
            i = j


def normalize(text: str) -> Folded:
    """Fold ``text`` for matching and keep the way back (see the module docstring)."""
    if text.isascii():
        return Folded(text, text.lower())
    b = _Builder()
    pos = 0
    for m in _SPECIAL_RUN.finditer(text):
        start, end = m.span()
        if start > pos:
            b.add(pos, start - pos, text[pos:start].lower(), True)
        b.add_run(m.group(), start)
        pos = end
    if pos < len(text):
        b.add(pos, len(text) - pos, text[pos:].lower(), True)
    return Folded(text, "".join(b.parts), b.norm, b.orig, b.linear)

"""Source markers copied into an answer: found in any spelling, and taken out.

The grounded prompt wraps each passage in ``<<<SOURCE n tag: label>>>`` … ``<<<END SOURCE n
tag>>>`` lines. Small models repeat them — exactly, or mangled: fewer brackets, another case,
no tag, an invented word (``<<<SUGGESTED SOURCE 1>>``), zero-width characters in between.
A reader gains nothing from them and they could pass for structure, so no face shows them:
:class:`MarkerFilter` takes them out of an answer as it streams (holding back what may be the
start of one, as placeholder restoration does), and :func:`strip_source_markers` takes them
out of stored answers, older ones included, and of exports.

Ordinary text keeps its brackets: ``a < b``, ``x << 2``, ``cat <<EOF`` and an HTML
``<source src=…>`` element are not markers (a single bracket needs a source number).
"""

from __future__ import annotations

import re

OPENERS = "<‹«＜〈⟨"  # "‹‹‹" is how the prompt defuses "<<<" inside a passage
CLOSERS = ">›»＞〉⟩"
# Invisible characters a copied marker may carry between its letters.
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\ufe00-\ufe0f\ufeff]")
_MAX_BODY = 200  # number, tag and label: a longer run is text, not a marker
_MAX_UNCLOSED = 60  # an unclosed one ends its line: a short header, not a paragraph
_KEYWORD = (
    rf"(?P<open>[{OPENERS}]+)[ \t]{{0,3}}"
    r"(?P<words>(?:[a-z]{1,12}[ \t_-]{1,3}){0,2}?)"  # END, or a word a model made up
    r"sources?(?![a-z])"
)
_MARKER = re.compile(
    _KEYWORD + rf"(?:(?P<body>[^\n]{{0,{_MAX_BODY}}}?)(?P<close>[{CLOSERS}]+)"
    rf"|(?P<unclosed>[^\n{CLOSERS}]{{0,{_MAX_UNCLOSED}}})(?=\n|\Z)"
    # Unclosed, before a long line: the header's number and tag go, the text stays.
    r"|(?P<head>[ \t_#-]*\d{0,3}(?:[ \t]+[a-z0-9]{8}(?![a-z0-9]))?[ \t]*:?))",
    re.IGNORECASE,
)
# A marker whose closing brackets may still come (what a stream holds back).
_PENDING = re.compile(_KEYWORD + rf"[^\n]{{0,{_MAX_BODY}}}", re.IGNORECASE)
_NUMBERED = re.compile(r"[ \t_:#-]*\d")
# What may still grow into a marker: openers, up to two words, then part of a third.
_OPENING = re.compile(
    rf"[{OPENERS}]+[ \t]{{0,3}}(?P<words>(?:[a-z]{{1,12}}[ \t_-]{{1,3}}){{0,2}})"
    r"(?P<last>[a-z]{0,12})",
    re.IGNORECASE,
)


def _visible(text: str) -> tuple[str, list[int]]:
    """``text`` without invisible characters, and where each kept character came from."""
    kept: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if not _INVISIBLE.match(ch):
            kept.append(ch)
            where.append(i)
    return "".join(kept), where


def _is_marker(match: re.Match[str]) -> bool:
    """A found shape that is a marker: brackets doubled, or a source number after it."""
    doubled = len(match.group("open")) >= 2
    if match.group("head") is not None:
        return doubled or any(c.isdigit() for c in match.group("head"))
    if match.group("close") is None:  # runs to the end of its line: only a doubled opening
        return doubled
    plain_end = not match.group("words") or match.group("words").strip(" \t_-").lower() == "end"
    if doubled:
        return True
    return plain_end and _NUMBERED.match(match.group("body")) is not None


def _could_start(tail: str) -> bool:
    """Whether ``tail`` (openers first, invisible characters removed) may become a marker."""
    if _PENDING.fullmatch(tail):
        return True
    opening = _OPENING.fullmatch(tail)
    if opening is None:  # a newline, a digit or a bracket before SOURCE: ordinary text
        return False
    if len(re.findall(r"[a-z]+", opening.group("words"), re.IGNORECASE)) < 2:
        return True
    return "source".startswith(opening.group("last").lower())


def _split(text: str, *, final: bool) -> tuple[str, str, int]:
    """``(shown, held, removed)``: ``text`` with its markers out, and what must wait.

    ``final``: nothing more will come, so nothing is held back and an unclosed marker at the
    very end counts as one.
    """
    clean, where = _visible(text)
    spans: list[tuple[int, int]] = []
    cut = len(text)
    searched_to = 0
    for match in _MARKER.finditer(clean):
        if not final and (match.end() == len(clean) or (
                match.group("close") is None
                and _PENDING.fullmatch(clean, match.start()) is not None)):
            cut = where[match.start()]  # its closing brackets may still be on their way
            break
        searched_to = match.end()
        if _is_marker(match):
            spans.append((where[match.start()], where[match.end() - 1] + 1))
    else:
        if not final:
            start = _held_start(clean, searched_to)
            if start is not None:
                cut = where[start]
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        pos = end
    out.append(text[pos:cut])
    return "".join(out), text[cut:], len(spans)


def _held_start(clean: str, after: int) -> int | None:
    """The first run of opening brackets after ``after`` that may still become a marker."""
    for i in range(after, len(clean)):
        if clean[i] in OPENERS and (i == after or clean[i - 1] not in OPENERS) \
                and _could_start(clean[i:]):
            return i
    return None


def strip_source_markers(text: str) -> tuple[str, int]:
    """``text`` without anything that looks like a source marker, and how many were removed.

    Text without markers comes back unchanged (the same string).
    """
    shown, _held, removed = _split(text, final=True)
    return (shown, removed) if removed else (text, 0)


def removed_note(count: int) -> str:
    """What a user is told when markers were taken out of an answer."""
    noun = "marker" if count == 1 else "markers"
    return f"Removed {count} copied source {noun} from the answer."


class MarkerFilter:
    """Takes source markers out of a streamed answer, piece by piece.

    A piece that ends in what may be the start of a marker (``<<``, ``<<<SOUR``, a marker
    whose closing brackets have not all arrived) is held back until the next piece settles
    it; ordinary text passes at once.
    """

    def __init__(self) -> None:
        self._held = ""
        self.removed = 0

    def feed(self, piece: str) -> str:
        """What of ``piece`` (and anything held before it) can be shown now."""
        shown, self._held, removed = _split(self._held + piece, final=False)
        self.removed += removed
        return shown

    def flush(self) -> str:
        """The answer ended: what was held back, markers taken out."""
        shown, _held, removed = _split(self._held, final=True)
        self._held = ""
        self.removed += removed
        return shown

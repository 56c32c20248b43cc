"""Classification markings: banners, portion marks and control markings, in any case.

A marking keeps the whole turn on this machine (``routing.BLOCKING_ENTITY_TYPES``), so a
missed one sends classified text out while a false alarm only keeps a turn local; where the
two pull apart these rules lean toward the false alarm.

Matched in any case (the folded text is lower case, so case is no disguise):

* ``top secret`` in any spelling (``Top Secret``, ``top-secret``, ``TOPSECRET``);
* a banner: a classification word or abbreviation followed by ``//`` and its categories
  (``secret//noforn``, ``s//rel to usa, fvey``, ``ts//si//tk``, ``u//fouo``);
* portion marks with ``//`` (``(ts//si)``, ``(s//nf)``) and ``(ts)``;
* control and dissemination markings that are not English words (``noforn``, ``orcon``,
  ``fouo``...) and ``official-sensitive``.

Matched only in capitals, because in lower case they are ordinary English ("a secret plan",
"restricted access", "kept confidential"): ``SECRET``, ``CONFIDENTIAL``, ``RESTRICTED``,
``CLASSIFIED``, ``STRICTLY CONFIDENTIAL`` and the portion mark ``(S)``. Never ``(C)`` or
``(U)``, which read as a copyright sign or a list item.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from app.core.guard.finders import Recognizer
from app.core.guard.normalize import Folded

_HEADS = (
    r"(?:cosmic[\s_-]*)?top[\s_-]*secret|secret|confidential|restricted|unclassified"
    r"|classified|official(?:[\s_-]*sensitive)?|nato[\s_-]*(?:secret|confidential|restricted)"
    r"|cui|ts|s|c|r|u"
)
# One category after "//": words joined by spaces, commas, hyphens or a single "/" (SI/TK).
_CATEGORY = r"[a-z0-9]+(?:(?:[ ,-]+|/(?!/))[a-z0-9]+){0,8}"
_CONTROLS = ("noforn", "nofornd", "orcon", "imcon", "relido", "propin", "fouo", "nodis", "exdis",
             "limdis")
_CAPITALS_ONLY = ("secret", "confidential", "restricted", "classified")


def _words(words: tuple[str, ...]) -> str:
    """Literal alternatives, each with a look back for a word boundary after it.

    A leading ``(?<![a-z0-9])`` would make ``re`` try every position of the text instead of
    searching for the literals (about 50 ms instead of 10 ms for 1 MB).
    """
    return "|".join(f"{w}(?<![a-z0-9]{w})" for w in sorted(words, key=len, reverse=True))


def _capitals(candidate: str) -> bool:
    return candidate.isupper()


@dataclass(frozen=True)
class BannerFinder:
    """``secret//noforn``, ``s//rel to usa``: a classification word, ``//``, categories.

    Found from its ``//``: the word before it may be one letter (``s//``), which as the
    opening of a pattern would be tried at every "s" of the text.
    """

    kind: str = "CLASSIFICATION"
    priority: int = 30

    def find(self, text: Folded) -> Iterator[tuple[int, int]]:
        """Spans of banners."""
        folded = text.folded
        covered = 0
        for slashes in _SLASHES.finditer(folded):
            at = slashes.start()
            if at < covered:
                continue
            head = _HEAD_BEFORE.search(folded, max(covered, at - _HEAD_REACH), at)
            if head is None:
                continue
            banner = _BANNER.match(folded, head.start())
            if banner is not None:
                covered = banner.end()
                yield banner.span()


_SLASHES = re.compile(r"//")
_HEAD_REACH = 40  # longest head ("cosmic top secret", "nato confidential") and its spaces
_HEAD_BEFORE = re.compile(rf"(?<![\w/])(?:{_HEADS})\s*\Z")
_BANNER = re.compile(rf"(?:{_HEADS})(?:\s*//\s*{_CATEGORY})+(?![a-z0-9])")

_ANY_CASE = (
    # "top secret" in any spelling ("cosmic top secret" is found from its "top").
    rf"top(?<![a-z0-9]top)[\s_-]*secrets?(?:\s*//\s*{_CATEGORY})*(?![a-z0-9])"
    rf"|(?:{_words(_CONTROLS)})(?![a-z0-9])"
    r"|official(?<![a-z0-9]official)[\s_-]+sensitive(?![a-z0-9])"
)
_IN_CAPITALS = (
    rf"(?:strictly(?<![a-z0-9]strictly)\s+confidential|{_words(_CAPITALS_ONLY)})(?![a-z0-9])"
)

RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer("CLASSIFICATION", re.compile(_ANY_CASE), priority=30),
    Recognizer("CLASSIFICATION", re.compile(_IN_CAPITALS), _capitals, priority=32),
    Recognizer(
        "CLASSIFICATION",
        re.compile(r"\(\s*(?:ts|s|c|r|u|cui)\s*//[^()\n]{1,60}\)|\(\s*ts\s*/[^()\n]{1,60}\)"
                   r"|\(\s*ts\s*\)"),
        priority=31,
    ),
    Recognizer("CLASSIFICATION", re.compile(r"\(s\)"), lambda c: c == "(S)", priority=31),
)

FINDERS = (BannerFinder(),)

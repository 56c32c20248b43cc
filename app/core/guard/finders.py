"""What a recognizer is: something that finds spans of one kind in folded text.

Every recognizer sees the folded text (:mod:`app.core.guard.normalize`): lower case, NFKC,
no invisible characters. A pattern is therefore written in lower case; a check that needs the
original case or checksum digits (a marking in capitals, an entropy measure, Luhn) reads the
span's *display* form, which keeps case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from app.core.guard.normalize import Folded

Validator = Callable[[str], bool]

"""Confirms a candidate from its display form (case kept), e.g. a checksum."""


class Finder(Protocol):
    """One kind of sensitive text."""

    @property
    def kind(self) -> str:
        """Placeholder type, e.g. ``EMAIL``."""
        ...

    @property
    def priority(self) -> int:
        """Breaks ties between overlapping findings of equal span (lower wins)."""
        ...

    def find(self, text: Folded) -> Iterator[tuple[int, int]]:
        """Spans ``[start, end)`` of ``text.folded`` that hold this kind."""
        ...


@dataclass(frozen=True)
class Recognizer:
    """A regular expression over the folded text, optionally confirmed by a check.

    Attributes:
        kind: Placeholder type, e.g. ``EMAIL`` (placeholders read ``<EMAIL_1_k7q2m9xa>``).
        pattern: Finds candidates in the folded (lower-case) text.
        validate: Confirms a candidate's display form (a checksum); None accepts every match.
        group: The regex group that is redacted (0: the whole match), so ``api_key=...`` keeps
            its name and loses only its value.
        priority: Breaks ties between overlapping matches of equal span (lower wins).
    """

    kind: str
    pattern: re.Pattern[str]
    validate: Validator | None = None
    group: int = 0
    priority: int = 50

    def find(self, text: Folded) -> Iterator[tuple[int, int]]:
        """Every confirmed match of the pattern in ``text.folded``."""
        for m in self.pattern.finditer(text.folded):
            start, end = m.span(self.group)
            if start < 0 or start == end:
                continue
            if self.validate is not None and not self.validate(text.display(start, end)):
                continue
            yield start, end


@dataclass(frozen=True)
class AnchoredRecognizer:
    r"""A pattern found from a rare anchor inside it instead of tried at every position.

    A pattern that opens with an unbounded run (``[a-z0-9._]+\s*[at]``) is tried by ``re``
    at every position of a long run and costs quadratic time on hostile text such as
    ``a.a.a.a...``. Here ``re`` only looks for the anchor; each anchor is followed back over
    ``back`` (groups of characters, walked in order) and the pattern is matched once from
    there. The walk stops at the previous anchor, so the whole search stays linear.

    Attributes:
        kind: Placeholder type.
        anchor: A short, rare part of every match (``[at]``).
        back: Character sets a match may hold before its anchor, innermost first.
        pattern: The whole match, tried from the walked-back start.
        validate: Confirms a candidate's display form; None accepts every match.
        priority: Breaks ties between overlapping matches of equal span (lower wins).
    """

    kind: str
    anchor: re.Pattern[str]
    back: tuple[str, ...]
    pattern: re.Pattern[str]
    validate: Validator | None = None
    priority: int = 50

    def find(self, text: Folded) -> Iterator[tuple[int, int]]:
        """Every confirmed match around an anchor in ``text.folded``."""
        folded = text.folded
        floor = 0
        for anchor in self.anchor.finditer(folded):
            start = anchor.start()
            for chars in self.back:
                while start > floor and folded[start - 1] in chars:
                    start -= 1
            floor = anchor.end()
            m = self.pattern.match(folded, start)
            if m is None or m.end() <= anchor.start():
                continue
            if self.validate is not None and not self.validate(text.display(*m.span())):
                continue
            floor = max(floor, m.end())
            yield m.span()

"""Phone numbers, checked against libphonenumber's metadata (the ``phonenumbers`` package).

Three kinds of candidate, each found by a regular expression and confirmed by the metadata:

* international numbers (``+44 20 7946 0958``, ``0044 20 7946 0958``): possible for their
  country code (its lengths), or valid outright when written with ``00``, which ordinary
  numbers also start with. Each one found names its country;
* national numbers with no country code (``020 7946 0000``, ``06 12 34 56 78``) when the
  same text named that country with an international number: valid for that country and
  written with its trunk prefix where it has one. Without
  such a hint a national number is too ambiguous to tell from an order or invoice number;
* two national shapes found without a hint, because they are common and unmistakable: North
  American ``(555) 123-4567`` / ``555-123-4567`` and UK mobiles ``07700 900123``.

Why not ``phonenumbers.PhoneNumberMatcher``: it scans every digit run in Python (2.4 s for
1 MB of prose here) and, for a national region, takes dates and version numbers for numbers
at its lenient settings; the regular expressions below find the few candidates in C, and
the metadata then judges only those.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber

from app.core.guard.normalize import Folded

_INTERNATIONAL = re.compile(
    r"(?<![\w+])(?:\+|00)\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d++){1,6}(?![\w])"
)
_NATIONAL = re.compile(
    r"(?<![\w+.,/:-])(?:\(\d{1,5}\)|\d{1,6})(?:[ .-]\d{2,8}){1,4}(?![\w-]|[.,]\d)"
    r"|(?<![\w+.,/:-])0\d{8,11}(?![\w-]|[.,]\d)"
)
_ALWAYS = re.compile(
    # North American: (555) 123-4567, 555-123-4567, 1 555 123 4567.
    r"(?<![\w+(-])(?:1[ .-])?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"
    # UK mobile: 07700 900123, 07700900123, 07911 123 456.
    r"|(?<![\w+])07\d{3}[ -]?\d{3}[ -]?\d{3}(?![\w-])"
)
_DATE_LIKE = re.compile(r"\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4}")
_SEPARATOR = re.compile(r"[ .-]")


def _parse(candidate: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(candidate, region)
    except NumberParseException:
        return None


def _digits(candidate: str) -> int:
    return sum(map(str.isdigit, candidate))


def _international_ok(candidate: str) -> str | None:
    """The region an international candidate names, "" when it has none, None when invalid."""
    if not 7 <= _digits(candidate) <= 15:
        return None
    double_zero = candidate.startswith("00")
    number = _parse("+" + candidate[2:] if double_zero else candidate, None)
    if number is None:
        return None
    ok = phonenumbers.is_valid_number(number) if double_zero else (
        phonenumbers.is_possible_number(number))
    if not ok:
        return None
    region = phonenumbers.region_code_for_number(number) or (
        phonenumbers.region_code_for_country_code(number.country_code or 0))
    return "" if region in (None, "ZZ", "001") else region


def _national_ok(candidate: str, region: str) -> bool:
    """Whether a candidate is a valid national number of ``region``, trunk prefix and all.

    Where the country dials a trunk prefix (0 in most of Europe, 8 in Russia), a national
    number is written with it; without that rule "case 1995-760022" is a valid number in the
    UK. North America's numbers have their own shape (``_ALWAYS``) and are not judged here.
    """
    if not 6 <= _digits(candidate) <= 13 or _DATE_LIKE.fullmatch(candidate):
        return False
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code == 1:
        return False
    trunk = metadata.national_prefix
    if trunk and not candidate.lstrip("(").startswith(trunk):
        return False
    number = _parse(candidate, region)
    return number is not None and phonenumbers.is_valid_number(number)


def _international_span(folded: str, start: int, end: int) -> tuple[int, str] | None:
    """The end of the longest valid number in ``folded[start:end]`` and its region.

    A number followed by another group of digits ("+44 20 7946 0958 2024") is tried again
    without its trailing groups.
    """
    ends = [end] + [m.start() for m in reversed(list(_SEPARATOR.finditer(folded, start, end)))]
    for stop in ends:
        candidate = folded[start:stop].rstrip(" .-")
        region = _international_ok(candidate)
        if region is not None:
            return start + len(candidate), region
    return None


@dataclass(frozen=True)
class PhoneFinder:
    """International numbers, national ones the text gives a country for, NANP and UK mobiles."""

    kind: str = "PHONE"
    priority: int = 20

    def find(self, text: Folded) -> Iterator[tuple[int, int]]:
        """Spans of phone numbers in ``text.folded``."""
        folded = text.folded
        regions: set[str] = set()
        if "+" in folded or "00" in folded:
            for m in _INTERNATIONAL.finditer(folded):
                found = _international_span(folded, m.start(), m.end())
                if found is not None:
                    stop, region = found
                    if region:
                        regions.add(region)
                    yield m.start(), stop
        for m in _ALWAYS.finditer(folded):
            yield m.span()
        if not regions:
            return
        ordered = sorted(regions)
        # Judged once per distinct candidate in this text; no cache outlives the call, so no
        # phone number stays in memory after its request.
        judged: dict[str, bool] = {}
        for m in _NATIONAL.finditer(folded):
            candidate = m.group()
            if candidate not in judged:
                judged[candidate] = any(_national_ok(candidate, r) for r in ordered)
            if judged[candidate]:
                yield m.span()

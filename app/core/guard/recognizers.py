"""Built-in recognizers: what counts as personal data, a secret or a classification marking.

Each recognizer finds candidates in the folded text (lower case, NFKC, no invisible
characters: see :mod:`app.core.guard.normalize`) and, where the format has one, a check
confirms them (:mod:`app.core.guard.validators`: ``python-stdnum``'s Luhn, IBAN and SSN rules;
``ipaddress``). Phone numbers are judged by libphonenumber's metadata
(:mod:`app.core.guard.phones`), secrets by their known formats and their randomness
(:mod:`app.core.guard.credentials`), markings by :mod:`app.core.guard.markings`.

Why not Presidio: ``presidio-analyzer`` imports spaCy at package import (its ``AnalyzerEngine``
and NLP artifacts are imported by ``presidio_analyzer/__init__``), needs a spaCy language
model that is a separate download, and its URL recognizer pulls ``tldextract``, which fetches
the public-suffix list from the network on first use. Its pattern recognizers are regular
expressions plus the same checksums as here, so owning them costs little and keeps the
redactor offline and fast enough to run on every request.
"""

from __future__ import annotations

import re

from app.core.guard import credentials, markings
from app.core.guard.finders import AnchoredRecognizer, Finder, Recognizer, Validator
from app.core.guard.phones import PhoneFinder
from app.core.guard.validators import iban_ok, ipv6_ok, luhn_ok, ssn_ok

__all__ = ["BUILT_IN", "AnchoredRecognizer", "Finder", "Recognizer", "Validator", "iban_ok",
           "ipv6_ok", "luhn_ok", "ssn_ok"]


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# "[at]", "(at)", "{at}", "<at>" and the same for "dot": how people hide an address from
# scrapers, and from a pattern that expects "@".
_AT = r"\s*[\[({<]\s*at\s*[\])}>]\s*"
_DOT = r"(?:\.|\s*[\[({<]\s*dot\s*[\])}>]\s*)"
_LOCAL = "abcdefghijklmnopqrstuvwxyz0123456789._%+-"  # what an address's local part holds
_SSN_WORDS = r"ssn|ss#|social\s+security(?:\s+(?:number|no\.?|#))?"

PERSONAL: tuple[Finder, ...] = (
    # Both found from their "@" or "[at]": as one pattern, each took minutes on 100 kB of
    # ``a.a.a.a...`` (see AnchoredRecognizer).
    AnchoredRecognizer(
        "EMAIL",
        _c("@"),
        (_LOCAL,),
        _c(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"),
    ),
    AnchoredRecognizer(
        "EMAIL",
        _c(r"[\[({<]\s*at\s*[\])}>]"),
        (" \t\r\n\f\v", _LOCAL),
        _c(rf"[a-z0-9._%+-]+{_AT}[a-z0-9-]+(?:{_DOT}[a-z0-9-]+)*{_DOT}[a-z]{{2,}}\b"),
    ),
    Recognizer(
        "IBAN",
        _c(r"\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,4})?\b"),
        iban_ok,
        priority=10,
    ),
    Recognizer("CARD", _c(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), luhn_ok, priority=11),
    Recognizer("SSN", _c(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"), ssn_ok, priority=12),
    # Nine digits alone are an order number as often as an SSN: only when the text says so.
    Recognizer(
        "SSN",
        _c(rf"\b(?:{_SSN_WORDS})(?![a-z0-9])[^\d\n]{{0,15}}(\d{{9}})(?!\d)"),
        ssn_ok,
        group=1,
        priority=12,
    ),
    Recognizer(
        "MAC",
        _c(r"(?<![\w:-])[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}(?![\w:-])"
           r"|\b[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}\b"),
        priority=13,
    ),
    # A dotted quad is an address unless it is visibly a version ("v1.2.3.4", "1.2.3.4.5").
    Recognizer(
        "IP", _c(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)"), priority=14
    ),
    Recognizer(
        "IP",
        _c(rf"(?<![\w:.])(?:[0-9a-f]{{0,4}}:){{2,7}}(?:{_OCTET}(?:\.{_OCTET}){{3}}"
           r"|[0-9a-f]{1,4})?(?![\w:]|\.\d)"),
        ipv6_ok,
        priority=15,
    ),
)

# Order matters only for equal spans; otherwise the earliest, then the longest match wins.
BUILT_IN: tuple[Finder, ...] = (
    *credentials.RECOGNIZERS,
    *PERSONAL,
    PhoneFinder(),
    *credentials.FINDERS,
    *markings.RECOGNIZERS,
    *markings.FINDERS,
)
"""Every built-in recognizer, in the order ties are broken."""

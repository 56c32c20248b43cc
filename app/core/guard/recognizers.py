"""Built-in recognizers: what counts as personal data, a secret or a classification marking.

Each recognizer is a regular expression that finds candidates and, where the format has one,
a checksum that confirms them (Luhn for payment cards, ISO 13616 mod-97 for IBANs, the SSA's
excluded ranges for US SSNs, ``ipaddress`` for IP addresses). A candidate that fails its
check is left alone: the near-misses a test corpus holds (a card number off by one digit, an
IBAN with a bad checksum) stay readable.

Why not Presidio: ``presidio-analyzer`` imports spaCy at package import (its ``AnalyzerEngine``
and NLP artifacts are imported by ``presidio_analyzer/__init__``), needs a spaCy language
model that is a separate download, and its URL recognizer pulls ``tldextract``, which fetches
the public-suffix list from the network on first use. Its pattern recognizers are regular
expressions plus the same checksums as here, so owning them costs little and keeps the
redactor offline, dependency-free and fast enough to run on every request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

Validator = Callable[[str], bool]


@dataclass(frozen=True)
class Recognizer:
    """One kind of sensitive text.

    Attributes:
        kind: Placeholder type, e.g. ``EMAIL`` (placeholders read ``<EMAIL_1>``).
        pattern: Finds candidates.
        validate: Confirms a candidate (a checksum); None accepts every match.
        group: The regex group that is redacted (0: the whole match), so ``api_key=...`` keeps
            its name and loses only its value.
        priority: Breaks ties between overlapping matches of equal span (lower wins).
    """

    kind: str
    pattern: re.Pattern[str]
    validate: Validator | None = None
    group: int = 0
    priority: int = 50


def luhn_ok(candidate: str) -> bool:
    """Whether a payment card number passes the Luhn checksum (13 to 19 digits)."""
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """Whether an IBAN passes the ISO 13616 mod-97 check."""
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


# Numbers the SSA never issues, or that were published in advertising and are not anyone's.
_SSN_NEVER = {"078051120", "219099999", "123456789"}


def ssn_ok(candidate: str) -> bool:
    """Whether a US SSN could have been issued (area not 000, 666 or 9xx; group and serial set)."""
    digits = "".join(c for c in candidate if c.isdigit())
    if len(digits) != 9 or digits in _SSN_NEVER:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def phone_ok(candidate: str) -> bool:
    """Whether a phone-like string has an E.164-sized number of digits (7 to 15)."""
    return 7 <= sum(c.isdigit() for c in candidate) <= 15


def ipv6_ok(candidate: str) -> bool:
    """Whether the candidate is an IPv6 address with at least some digits (not bare ``::``)."""
    if not any(c.isalnum() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_SECRET_NAMES = (
    r"api[_-]?key|apikey|api[_-]?token|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key"
    r"|client[_-]?secret|auth[_-]?token|access[_-]?token|secret|token|password|passwd|pwd"
)
_CLASSIFICATION_WORDS = (
    r"TOP\s+SECRET|SECRET|CONFIDENTIAL|RESTRICTED|CLASSIFIED|NOFORN|ORCON|"
    r"OFFICIAL[- ]SENSITIVE|STRICTLY\s+CONFIDENTIAL"
)


def _c(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


# Order matters only for equal spans; otherwise the earliest, then the longest match wins.
BUILT_IN: tuple[Recognizer, ...] = (
    Recognizer(
        "PRIVATE_KEY",
        _c(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE "
           r"KEY-----"),
        priority=1,
    ),
    Recognizer(
        "URL_CREDENTIALS",
        _c(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s/:@]+:[^\s/@]+@[^\s/?#]+[^\s]*"),
        priority=2,
    ),
    # AWS access key ids, GitHub tokens, JWTs, Slack tokens, OpenAI/Anthropic-style keys.
    Recognizer("SECRET", _c(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), priority=3),
    Recognizer("SECRET", _c(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b"), priority=3),
    Recognizer("SECRET", _c(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"), priority=3),
    Recognizer(
        "SECRET", _c(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}"),
        priority=3,
    ),
    Recognizer("SECRET", _c(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), priority=3),
    Recognizer("SECRET", _c(r"\bsk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,}"), priority=3),
    # name = value / name: "value": the value goes, the name stays so the text still reads.
    Recognizer(
        "SECRET",
        _c(rf"\b(?:{_SECRET_NAMES})\b[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{{6,}})", re.IGNORECASE),
        group=1,
        priority=4,
    ),
    Recognizer(
        "EMAIL", _c(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
    ),
    Recognizer(
        "IBAN",
        _c(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        iban_ok,
        priority=10,
    ),
    Recognizer("CARD", _c(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), luhn_ok, priority=11),
    Recognizer("SSN", _c(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"), ssn_ok, priority=12),
    Recognizer(
        "MAC",
        _c(r"(?<![\w:-])[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![\w:-])"
           r"|\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b"),
        priority=13,
    ),
    # A dotted quad is an address unless it is visibly a version ("v1.2.3.4", "1.2.3.4.5").
    Recognizer(
        "IP", _c(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)"), priority=14
    ),
    Recognizer(
        "IP",
        _c(rf"(?<![\w:.])(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{_OCTET}(?:\.{_OCTET}){{3}}"
           r"|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)"),
        ipv6_ok,
        priority=15,
    ),
    Recognizer(
        "PHONE",
        _c(r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)"),
        phone_ok,
        priority=20,
    ),
    Recognizer(
        "PHONE",
        _c(r"(?<![\w+(-])(?:1[ .-])?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"),
        phone_ok,
        priority=21,
    ),
    # Markings are matched in capitals only: "a secret plan" is prose, "SECRET//NOFORN" a banner.
    Recognizer(
        "CLASSIFICATION",
        _c(rf"(?<![\w/])(?:{_CLASSIFICATION_WORDS})(?:\s*//\s*[A-Z][A-Z0-9 ,-]*[A-Z0-9])*(?!\w)"),
        priority=30,
    ),
    # Portion markings: (S//NF), (TS//SCI), (TS), (S); never a lone (C) or (U), which read as
    # a copyright sign or a letter in ordinary text.
    Recognizer(
        "CLASSIFICATION",
        _c(r"\((?:TS|S|C|R|U)//[A-Z][A-Z0-9 ,/-]*\)|\((?:TS|S)\)"),
        priority=31,
    ),
)

"""Checks that confirm a candidate: check digits, issuing rules, randomness.

The check digits come from ``python-stdnum`` (ISO 7064 mod 97-10 for IBANs with each
country's BBAN format, Luhn for payment cards, the SSA's issuing rules and its published
"never issued" list for US SSNs): maintained tables, not hand-copied ones. A candidate that
fails its check is left alone, so the near-misses in ordinary text (an order number that is
not a card, an IBAN with a typo) stay readable.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter

from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.us import ssn as _ssn

# Numbers published in advertising or as examples: nobody's, and stdnum does not list them all.
_SSN_EXAMPLES = {"123456789"}


def luhn_ok(candidate: str) -> bool:
    """Whether a payment card number passes Luhn (13 to 19 digits, not one repeated digit)."""
    digits = "".join(c for c in candidate if c.isdigit())
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1 or digits[0] == "0":
        return False  # no card scheme issues numbers that start with 0
    return bool(_luhn.is_valid(digits))


def iban_ok(candidate: str) -> bool:
    """Whether an IBAN passes mod 97 and its country's length and format (any case, spaces)."""
    compact = "".join(candidate.split()).upper()
    return 15 <= len(compact) <= 34 and compact.isalnum() and bool(_iban.is_valid(compact))


def ssn_ok(candidate: str) -> bool:
    """Whether a US SSN could have been issued (area not 000, 666 or 9xx; group, serial set)."""
    digits = "".join(c for c in candidate if c.isdigit())
    return len(digits) == 9 and digits not in _SSN_EXAMPLES and bool(_ssn.is_valid(digits))


def ipv6_ok(candidate: str) -> bool:
    """Whether the candidate is an IPv6 address with at least some digits (not bare ``::``)."""
    if not any(c.isalnum() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` as its own sample (0 for empty text)."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def random_threshold(length: int) -> float:
    """The entropy below which a base64-like string of ``length`` is unlikely to be random.

    Measured on 20,000 random strings per length: 0.1% of them score below 0.82*log2(length)
    (3.5 bits at 20 characters, 4.1 at 32, 4.4 at 40), so the threshold misses about one key
    in a thousand; capped at 4.7, where longer random strings sit well above it.
    """
    return min(4.7, 0.82 * math.log2(max(length, 2)))


_VOWELS = frozenset("aeiouAEIOU")
_SEPARATORS = re.compile(r"[_/-]")
_WORD = re.compile(r"[A-Za-z]?[a-z]+")


def _is_identifier(token: str) -> bool:
    """Whether a token is words joined by ``_``, ``-`` or ``/`` (``get_user_by_id_v2_Handler``).

    A random token has one such separator in 32 characters on average, between random
    segments; an identifier or a path has several, and most of its parts are words.
    """
    parts = [p for p in _SEPARATORS.split(token) if p]
    if len(parts) < 3:
        return False
    words = sum(1 for p in parts if _WORD.fullmatch(p) and any(c in _VOWELS for c in p))
    return words * 2 >= len(parts)


def looks_random(token: str) -> bool:
    """Whether a base64-like token reads as a random secret rather than a word or identifier.

    A random string mixes lower case, upper case and (nearly always) digits and scores high
    entropy for its length. Near the threshold, where long CamelCase identifiers such as
    ``AbstractSingletonProxyFactoryBean2`` also score, and when it has no digit, it must also
    have few vowels: about 19% of a random string's letters are vowels, against 35-45% of an
    English identifier's. Words joined by ``_``, ``-`` or ``/`` are an identifier or a path.
    """
    body = token.rstrip("=")
    if not (any(c.islower() for c in body) and any(c.isupper() for c in body)):
        return False
    if _is_identifier(body):
        return False
    entropy, threshold = shannon_entropy(body), random_threshold(len(body))
    if entropy < threshold:
        return False
    letters = [c for c in body if c.isalpha()]
    vowels = sum(c in _VOWELS for c in letters) / len(letters)
    if not any(c.isdigit() for c in body):
        # No digit (1-2% of random tokens of this length): only with a random string's vowels.
        return vowels <= 0.25
    return entropy >= threshold + 0.3 or vowels <= 0.34


def looks_random_hex(token: str) -> bool:
    """Whether a long hex string (a key, a token, a digest) is more than a repeated pattern."""
    return (any(c.isdigit() for c in token) and any(c.isalpha() for c in token)
            and shannon_entropy(token.lower()) >= 3.0)

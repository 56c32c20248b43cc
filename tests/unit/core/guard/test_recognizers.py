"""The formats hostile input used to slip past, and the prose that must still pass untouched."""

from __future__ import annotations

import string

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.guard.redact import Redactor, restore

AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# (text, the originals that must disappear, the placeholder type expected at least once)
MISSED_BEFORE = [
    (f"aws {AWS_ID} {AWS_SECRET}", [AWS_ID, AWS_SECRET], "SECRET"),
    (f"The secret key is {AWS_SECRET}, keep it safe.", [AWS_SECRET], "SECRET"),
    (f"AWS Secret Access Key: {AWS_SECRET}", [AWS_SECRET], "SECRET"),
    ("id akiaiosfodnn7example", ["akiaiosfodnn7example"], "SECRET"),
    ("Call +44 20 7946 0958 or the desk on 020 7946 0000.", ["020 7946 0000"], "PHONE"),
    ("mobile 07700 900123 after six", ["07700 900123"], "PHONE"),
    ("mobile 07700900123", ["07700900123"], "PHONE"),
    ("text 07911 123 456 please", ["07911 123 456"], "PHONE"),
    ("SSN 123456780 on file", ["123456780"], "SSN"),
    ("social security number: 123456780", ["123456780"], "SSN"),
    ("iban gb82 west 1234 5698 7654 32 ok", ["gb82 west 1234 5698 7654 32"], "IBAN"),
    ("de89 3704 0044 0532 0130 00", ["de89 3704 0044 0532 0130 00"], "IBAN"),
    ("write jane.doe [at] corp.example", ["jane.doe", "corp.example"], "EMAIL"),
    ("write jane.doe[at]corp[dot]example", ["jane.doe", "corp[dot]example"], "EMAIL"),
    ("write jane (at) corp (dot) example today", ["jane (at) corp (dot) example"], "EMAIL"),
    ("write JANE.DOE {AT} CORP.EXAMPLE", ["JANE.DOE", "CORP.EXAMPLE"], "EMAIL"),
]


@pytest.mark.parametrize(("text", "originals", "kind"), MISSED_BEFORE)
def test_formats_that_used_to_slip_through_are_redacted(
    text: str, originals: list[str], kind: str
) -> None:
    result = Redactor().redact(text)
    for original in originals:
        assert original not in result.text, result.text
    assert result.counts.get(kind, 0) >= 1, result.counts
    assert restore(result.text, result.mapping) == text


def _national(region: str) -> tuple[str, str]:
    import phonenumbers as pn

    fixed = pn.format_number(pn.example_number(region), pn.PhoneNumberFormat.INTERNATIONAL)
    mobile = pn.example_number_for_type(region, pn.PhoneNumberType.MOBILE)
    return fixed, pn.format_number(mobile, pn.PhoneNumberFormat.NATIONAL)


@pytest.mark.parametrize("region", ["GB", "DE", "FR", "AU", "NL", "CH", "JP", "IT", "ES", "IN"])
def test_a_national_number_is_found_when_another_number_named_its_country(region: str) -> None:
    international, national = _national(region)
    text = f"Head office {international}; the duty desk is on {national} after hours."
    result = Redactor().redact(text)
    assert national not in result.text, result.text
    assert result.counts == {"PHONE": 2}


def _bodies() -> list[str]:
    fmt = serialization.PrivateFormat
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=1024),
            ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()]
    bodies = []
    for key in keys:
        for f in (fmt.OpenSSH, fmt.PKCS8, fmt.TraditionalOpenSSL):
            try:
                pem = key.private_bytes(serialization.Encoding.PEM, f,
                                        serialization.NoEncryption()).decode()
            except ValueError:  # Ed25519 has no traditional form
                continue
            bodies.append("\n".join(pem.strip().splitlines()[1:-1]))
    return bodies


def test_a_private_key_body_without_its_header_lines_is_found() -> None:
    for body in _bodies():
        result = Redactor().redact(f"here is my key:\n{body}\nthanks")
        assert result.counts.get("PRIVATE_KEY") == 1, body[:40]
        assert body.splitlines()[0] not in result.text
        assert body.splitlines()[-1] not in result.text


# Realistic paragraphs full of numbers that are not personal data or secrets.
PROSE = [
    "Invoice INV-2024-0117 was issued on 2024-03-05 for $1,234.56 and is due on 04/05/2024. "
    "Please quote order #A-100234 and PO 4500012345 when you pay.",
    "The 09:30 stand-up moved to 14:45 on Thursday, 7 March 2024; the call lasts 15 minutes.",
    "Release 3.11.2 fixes the crash in 3.11.1; build v1.2.3.4 is the Windows installer and "
    "version 2024.3.1 the Linux one. See CHANGELOG entry 1.2.3.4.5.",
    "Prices rose 12.5% to EUR 1.299,00 (was 1.154,90); a pack of 3 x 250 ml costs GBP 4.50.",
    "Ticket 12345678 and case 2024-000123 are closed. Tracking 1Z999AA10123456784 shows "
    "delivery on 2024/03/07 at 10:15:30.",
    "Our Q3 revenue was 4,500,000 on 1,234 orders; order 9876543210 shipped in 2 days.",
    "The meeting room seats 12; floor 3, building 7, extension 4412. Temperature 21.5 C.",
    "Use getElementsByTagName and AbstractSingletonProxyFactoryBean in the Java module; "
    "ThisIsALongCamelCaseIdentifierName42 is a test fixture.",
    "Call get_user_by_id_v2_Handler from XMLHttpRequestEventTargetHandler; see "
    "https://github.com/python/cpython/blob/main/Lib/importlib/resources/_common.py#L42 and "
    "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.32 or org.apache.commons.lang3.StringUtils.",
    "Pod web-7d9f8b6c5d-x2k4p restarted; image python:3.11-slim-bookworm; tag v2.3.1-rc.4; "
    "the key to success is getElementsByTagNameNSForDocument.",
    "The train leaves at 06:12 from platform 9 and arrives at 08:47; fare 23.40.",
    "Batch 2024-03-05-0001 contains 250 units, lot number 784512, expiry 2026-12.",
    "Card ending 1111 was charged 49.99; reference 4111 1111 1111 1112 failed its check.",
    "Coordinates 51.5074, -0.1278 and elevation 35 m; population 8,982,000 in 2019.",
    "ISBN 978-0-306-40615-7 and ISSN 0317-8471 are cited on page 221, footnote 3.",
    "Python 3.12, Node 20.11.1, PostgreSQL 16.2 and Ubuntu 22.04 LTS are supported.",
    "Scores: 10-3, 7-2, 21-14; the 3rd quarter ended 2-1 after 90+4 minutes.",
]


@pytest.mark.parametrize("text", PROSE)
def test_ordinary_prose_yields_no_findings(text: str) -> None:
    result = Redactor().redact(text)
    assert result.counts == {}, result.text


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, d in enumerate(int(c) for c in reversed(number)):
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
    return total % 10 == 0


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789", min_size=13, max_size=19), st.sampled_from(["", " ", "-"]))
def test_a_number_that_fails_luhn_is_not_a_card(digits: str, sep: str) -> None:
    if _luhn_ok(digits):
        digits = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    grouped = sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))
    result = Redactor().redact(f"Order reference {grouped} was shipped.")
    assert "CARD" not in result.counts


_DATES = st.builds(lambda y, m, d, f: f.format(y=y, m=m, d=d),
                   st.integers(1990, 2035), st.integers(1, 12), st.integers(1, 28),
                   st.sampled_from(["{y}-{m:02d}-{d:02d}", "{d:02d}/{m:02d}/{y}", "{d}.{m}.{y}",
                                    "{y}/{m:02d}/{d:02d}"]))
_TIMES = st.builds(lambda h, m, s: f"{h:02d}:{m:02d}" + (f":{s:02d}" if s < 60 else ""),
                   st.integers(0, 23), st.integers(0, 59), st.integers(0, 90))
_VERSIONS = st.builds(lambda a, b, c, v: f"{v}{a}.{b}.{c}", st.integers(0, 40),
                      st.integers(0, 99), st.integers(0, 999), st.sampled_from(["", "v"]))
_PRICES = st.builds(lambda n, c, f: f.format(c=c, n=n), st.integers(0, 10_000_000),
                    st.sampled_from(["$", "EUR ", "£", "¥"]),
                    st.sampled_from(["{c}{n:,}", "{c}{n:,}.99", "{c}{n}"]))
_REFS = st.builds(lambda p, n: f"{p}{n}", st.sampled_from(["order #", "INV-", "invoice ",
                                                           "PO ", "ticket ", "case "]),
                  st.integers(1, 10**10 - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_DATES, _TIMES, _VERSIONS, _PRICES, _REFS), min_size=1, max_size=8))
def test_generated_dates_times_versions_prices_and_references_pass(parts: list[str]) -> None:
    text = "On " + ", then ".join(parts) + "."
    assert Redactor().redact(text).counts == {}


def _random_keys(count: int, length: int, alphabet: str) -> list[str]:
    import random

    rng = random.Random(14)  # seeded: a fixed sample, so the test cannot flake
    return ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(count)]


_B64 = string.ascii_letters + string.digits + "+/"


def test_random_aws_secret_keys_are_found_next_to_their_key_id() -> None:
    missed = [key for key in _random_keys(500, 40, _B64)
              if key in Redactor().redact(f"id {AWS_ID} secret {key} region eu-west-1").text]
    assert missed == []


def test_random_tokens_after_a_secret_word_are_found() -> None:
    keys = _random_keys(500, 24, _B64 + "-_")
    missed = [key for key in keys
              if key in Redactor().redact(f"my access token is {key} for prod").text]
    # A digitless token with a word's share of vowels may pass (about 1 in 500).
    assert len(missed) <= 5, missed


def test_random_tokens_alone_are_mostly_found() -> None:
    keys = _random_keys(1000, 32, _B64)
    missed = [key for key in keys if key in Redactor().redact(f"use {key} there").text]
    assert len(missed) <= 20, "more than 2% of random 32-character tokens slip through"


def test_a_number_followed_by_more_digits_is_cut_where_it_is_valid() -> None:
    r = Redactor()
    result = r.redact("Call +44 20 7946 0958 2024 budget")
    assert result.text == f"Call <PHONE_1_{r.tag}> 2024 budget"

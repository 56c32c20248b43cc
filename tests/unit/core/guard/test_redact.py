"""Redaction: known entities become stable placeholders; near-misses stay readable."""

from __future__ import annotations

import pytest

from app.core.engines.base import ChatMessage
from app.core.guard.redact import Redactor, StreamRestorer, restore

# (text, the originals that must disappear, the placeholder types expected)
CORPUS = [
    ("Write to alice.smith@corp.example today.", ["alice.smith@corp.example"], {"EMAIL": 1}),
    ("Call +44 20 7946 0958 or (555) 123-4567.", ["+44 20 7946 0958", "(555) 123-4567"],
     {"PHONE": 2}),
    ("Card 4111 1111 1111 1111 expires soon.", ["4111 1111 1111 1111"], {"CARD": 1}),
    ("IBAN GB82 WEST 1234 5698 7654 32 please.", ["GB82 WEST 1234 5698 7654 32"], {"IBAN": 1}),
    ("Pay DE89370400440532013000 now.", ["DE89370400440532013000"], {"IBAN": 1}),
    ("SSN 123-45-6780 on file.", ["123-45-6780"], {"SSN": 1}),
    ("Host 10.20.30.40 and 2001:db8::1 down.", ["10.20.30.40", "2001:db8::1"], {"IP": 2}),
    ("NIC 00:1A:2B:3C:4D:5E failed.", ["00:1A:2B:3C:4D:5E"], {"MAC": 1}),
    ("Clone https://admin:hunter2@git.corp.example/repo.git", ["admin:hunter2"],
     {"URL_CREDENTIALS": 1}),
    ("AWS AKIAIOSFODNN7EXAMPLE leaked.", ["AKIAIOSFODNN7EXAMPLE"], {"SECRET": 1}),
    ("Token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked.",
     ["ghp_abcdefghijklmnopqrstuvwxyz0123456789"], {"SECRET": 1}),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     ["eyJhbGciOiJIUzI1NiJ9"], {"SECRET": 1}),
    ("config: api_key=sk_live_abcdef123456", ["sk_live_abcdef123456"], {"SECRET": 1}),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
     ["MIIEabc"], {"PRIVATE_KEY": 1}),
    ("TOP SECRET//NOFORN briefing; (S//NF) para.", ["TOP SECRET//NOFORN", "(S//NF)"],
     {"CLASSIFICATION": 2}),
]

NEAR_MISSES = [
    "Card 4111 1111 1111 1112 fails Luhn.",
    "IBAN GB82 WEST 1234 5698 7654 33 fails mod-97.",
    "SSNs 000-12-3456, 666-12-3456 and 901-12-3456 are never issued.",
    "Python 3.11.2 and build v1.2.3.4 are versions.",
    "Meet at 12:30:45 on 2024-01-15.",
    "a secret plan, kept confidential, is prose",
    "UNCLASSIFIED",
    "std::vector and Foo::bar",
]


@pytest.mark.parametrize(("text", "originals", "counts"), CORPUS)
def test_known_entities_become_placeholders(
    text: str, originals: list[str], counts: dict[str, int]
) -> None:
    result = Redactor().redact(text)
    for original in originals:
        assert original not in result.text
    assert result.counts == counts
    assert restore(result.text, result.mapping) == text


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text: str) -> None:
    result = Redactor().redact(text)
    assert result.text == text, result.counts


def test_same_value_gets_the_same_placeholder_across_messages() -> None:
    r = Redactor()
    first = r.redact("bob@corp.example wrote to carol@corp.example")
    second = r.redact("Reply to bob@corp.example")
    assert first.text == "<EMAIL_1> wrote to <EMAIL_2>"
    assert second.text == "Reply to <EMAIL_1>"
    assert second.mapping["<EMAIL_2>"] == "carol@corp.example"


def test_custom_terms_are_case_insensitive_whole_words() -> None:
    r = Redactor(custom_terms=["Project Falcon", "ACME"])
    result = r.redact("project falcon for Acme; not Falconer or ACMEcorp; PROJECT  FALCON")
    assert result.text == "<TERM_1> for <TERM_2>; not Falconer or ACMEcorp; <TERM_1>"
    assert result.counts == {"TERM": 3}


def test_custom_patterns_are_redacted() -> None:
    result = Redactor(custom_patterns=[r"\bPRJ-\d{4}\b"]).redact("ticket PRJ-1234 and PRJ-12")
    assert result.text == "ticket <CUSTOM_1> and PRJ-12"


def test_redact_messages_keeps_roles_and_adds_counts() -> None:
    msgs = [ChatMessage("system", "Be brief."),
            ChatMessage("user", "mail x@y.example, x@y.example")]
    out, result = Redactor().redact_messages(msgs)
    assert [m.role for m in out] == ["system", "user"]
    assert out[1].content == "mail <EMAIL_1>, <EMAIL_1>"
    assert result.counts == {"EMAIL": 2}


def test_stream_restorer_handles_placeholders_split_across_pieces() -> None:
    mapping = {"<EMAIL_1>": "a@b.example"}
    restorer = StreamRestorer(mapping)
    pieces = ["Write to <EM", "AIL", "_1> now", " <", "3 is less"]
    shown = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
    assert shown == "Write to a@b.example now <3 is less"


def test_a_large_text_is_redacted_quickly() -> None:
    import time

    text = ("lorem ipsum 1.2.3 dolor@sit.example amet 4111111111111111 " * 2000)[:100_000]
    started = time.perf_counter()
    result = Redactor().redact(text)
    assert time.perf_counter() - started < 5
    assert "dolor@sit.example" not in result.text

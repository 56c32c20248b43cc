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


def _p(r: Redactor, kind: str, n: int) -> str:
    """The placeholder ``r`` gives the ``n``-th value of ``kind``."""
    return f"<{kind}_{n}_{r.tag}>"


def test_same_value_gets_the_same_placeholder_across_messages() -> None:
    r = Redactor()
    first = r.redact("bob@corp.example wrote to carol@corp.example")
    second = r.redact("Reply to bob@corp.example")
    assert first.text == f"{_p(r, 'EMAIL', 1)} wrote to {_p(r, 'EMAIL', 2)}"
    assert second.text == f"Reply to {_p(r, 'EMAIL', 1)}"
    assert second.mapping[_p(r, "EMAIL", 2)] == "carol@corp.example"


def test_custom_terms_are_case_insensitive_whole_words() -> None:
    r = Redactor(custom_terms=["Project Falcon", "ACME"])
    result = r.redact("project falcon for Acme; not Falconer or ACMEcorp; project falcon")
    t1, t2 = _p(r, "TERM", 1), _p(r, "TERM", 2)
    assert result.text == f"{t1} for {t2}; not Falconer or ACMEcorp; {t1}"
    assert result.counts == {"TERM": 3}


def test_each_spelling_of_a_term_keeps_its_own_placeholder_so_restore_is_exact() -> None:
    r = Redactor(custom_terms=["Project Falcon"])
    text = "project falcon and PROJECT  FALCON"
    result = r.redact(text)
    assert result.text == f"{_p(r, 'TERM', 1)} and {_p(r, 'TERM', 2)}"
    assert restore(result.text, result.mapping) == text


def test_custom_patterns_are_redacted() -> None:
    r = Redactor(custom_patterns=[r"\bPRJ-\d{4}\b"])
    result = r.redact("ticket PRJ-1234 and PRJ-12")
    assert result.text == f"ticket {_p(r, 'CUSTOM', 1)} and PRJ-12"


def test_redact_messages_keeps_roles_and_adds_counts() -> None:
    msgs = [ChatMessage("system", "Be brief."),
            ChatMessage("user", "mail x@y.example, x@y.example")]
    r = Redactor()
    out, result = r.redact_messages(msgs)
    assert [m.role for m in out] == ["system", "user"]
    assert out[1].content == f"mail {_p(r, 'EMAIL', 1)}, {_p(r, 'EMAIL', 1)}"
    assert result.counts == {"EMAIL": 2}


def test_stream_restorer_handles_placeholders_split_across_pieces() -> None:
    r = Redactor()
    mapping = r.redact("a@b.example").mapping
    restorer = StreamRestorer(mapping)
    pieces = ["Write to <EM", "AIL", f"_1_{r.tag[:3]}", f"{r.tag[3:]}> now", " <", "3 is less"]
    shown = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
    assert shown == "Write to a@b.example now <3 is less"


HOSTILE_UNITS = [
    "a.", "a-", "1.", "1-", "a.a.a@", "@a.", "a@b.", "a [at] b.", "a [at] b [dot] ", "[at]",
    "-----BEGIN PRIVATE KEY-----!", "-----BEGIN PRIVATE KEY-----\n", "a://u:", "secret=",
    "+1 ", "00", "1 ", "s//", "(ts//aaaa", "top secret ", "xsk-", "xakia", "aB3/", "ab12",
    "\u200b", "e\u0301", "ß", "\u0301", "ﬃ", "+44 20 7946 0958 ", "0207946",
]


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_hostile_text_takes_linear_time(unit: str) -> None:
    import time

    text = unit * (60_000 // len(unit))
    started = time.perf_counter()
    Redactor(custom_terms=["Operation Nightjar"]).redact(text)
    # About 0.1 s here; the quadratic patterns this guards against took minutes.
    assert time.perf_counter() - started < 4


def test_a_large_text_is_redacted_quickly() -> None:
    import time

    text = ("lorem ipsum 1.2.3 dolor@sit.example amet 4111111111111111 " * 2000)[:100_000]
    started = time.perf_counter()
    result = Redactor().redact(text)
    assert time.perf_counter() - started < 5
    assert "dolor@sit.example" not in result.text

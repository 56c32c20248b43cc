"""Placeholders are unforgeable: only the redactor's own come back as originals.

A user (or a hostile document) who types ``<EMAIL_1>`` must see ``<EMAIL_1>`` in the answer,
not somebody's address; a resumed conversation keeps its numbering and stays unforgeable.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.guard.redact import Redactor, StreamRestorer, restore

TAGGED = re.compile(r"<([A-Z][A-Z_]*)_(\d+)_([a-z0-9]+)>")

LOOKALIKES = [
    "<EMAIL_1>", "<EMAIL_2>", "<TERM_1>", "<PHONE_1>", "<SECRET_1>", "<EMAIL_1_>",
    "<EMAIL_1_aaaaaaaa>", "<email_1>", "< EMAIL_1 >", "<EMAIL_01>", "<URL_CREDENTIALS_1>",
    "⟨EMAIL_1⟩", "&lt;EMAIL_1&gt;", "<EMAIL_1", "EMAIL_1>", "<<EMAIL_1>>",
]

SENSITIVE = [
    "alice@corp.example", "bob@corp.example", "+44 20 7946 0958", "4111 1111 1111 1111",
    "10.20.30.40", "AKIAIOSFODNN7EXAMPLE", "Operation Nightjar", "GB82 WEST 1234 5698 7654 32",
]


def test_placeholders_carry_a_random_per_conversation_tag() -> None:
    first, second = Redactor(), Redactor()
    a = first.redact("mail alice@corp.example").text
    b = second.redact("mail alice@corp.example").text
    ma, mb = TAGGED.search(a), TAGGED.search(b)
    assert ma is not None and mb is not None, (a, b)
    assert ma.group(1, 2) == ("EMAIL", "1")
    assert ma.group(3) != mb.group(3), "two conversations share a tag"
    assert len(ma.group(3)) >= 6
    assert "<EMAIL_1>" not in a


def test_a_typed_placeholder_comes_back_verbatim() -> None:
    r = Redactor()
    text = "Write to alice@corp.example; the template says <EMAIL_1> and <EMAIL_2>."
    result = r.redact(text)
    assert "alice@corp.example" not in result.text
    # The remote model echoes the whole message; the user must see exactly what they typed.
    assert restore(result.text, result.mapping) == text
    assert restore("Use <EMAIL_1> here", result.mapping) == "Use <EMAIL_1> here"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(LOOKALIKES)), max_size=12))
def test_restore_leaves_lookalikes_alone(pieces: list[str]) -> None:
    r = Redactor(custom_terms=["Operation Nightjar"])
    mapping = r.redact("alice@corp.example bob@corp.example Operation Nightjar 10.1.2.3").mapping
    text = "".join(pieces)
    assert restore(text, mapping) == text
    restorer = StreamRestorer(mapping)
    assert "".join(restorer.feed(p) for p in pieces) + restorer.flush() == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=15), st.sampled_from(SENSITIVE),
                          st.sampled_from(LOOKALIKES), st.sampled_from([" ", "\n", ", "])),
                max_size=16))
def test_redact_then_restore_gives_back_the_original(pieces: list[str]) -> None:
    text = "".join(pieces)
    result = Redactor(custom_terms=["Operation Nightjar"]).redact(text)
    assert restore(result.text, result.mapping) == text


def test_stream_restorer_handles_a_tagged_placeholder_split_anywhere() -> None:
    r = Redactor()
    result = r.redact("a@b.example and c@d.example")
    answer = f"To {result.text}, say hi. <3 and <EMAIL_1> stay."
    expected = "To a@b.example and c@d.example, say hi. <3 and <EMAIL_1> stay."
    for cut in range(1, len(answer)):
        for cut2 in range(cut, len(answer), 7):
            restorer = StreamRestorer(result.mapping)
            pieces = [answer[:cut], answer[cut:cut2], answer[cut2:]]
            shown = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
            assert shown == expected, (cut, cut2)


def test_stream_restorer_does_not_hold_back_what_cannot_be_a_placeholder() -> None:
    r = Redactor()
    mapping = r.redact("a@b.example").mapping
    restorer = StreamRestorer(mapping)
    assert restorer.feed("x <3 is less") == "x <3 is less"
    assert restorer.feed(" and <") == " and "
    assert restorer.feed("b>") == "<b>"


def test_a_resumed_old_conversation_keeps_its_numbers_and_stays_unforgeable() -> None:
    stored = {"<EMAIL_1>": "bob@example.org", "<TERM_1>": "Nightjar"}  # before tags existed
    r = Redactor(custom_terms=["Nightjar"])
    r.seed(stored)
    result = r.redact("Also cc carol@example.org and bob@example.org about Nightjar")
    found = {m.group(0): (m.group(1), m.group(2)) for m in TAGGED.finditer(result.text)}
    assert sorted(found.values()) == [("EMAIL", "1"), ("EMAIL", "2"), ("TERM", "1")]
    assert "bob@example.org" not in result.text and "carol@example.org" not in result.text
    bob = next(p for p, v in result.mapping.items() if v == "bob@example.org")
    assert TAGGED.fullmatch(bob) and bob.startswith("<EMAIL_1_")
    # The old value comes back through its new placeholder; the old bare form never does.
    assert restore(f"ask {bob}", result.mapping) == "ask bob@example.org"
    assert restore("ask <EMAIL_1>", result.mapping) == "ask <EMAIL_1>"
    assert restore("ask <EMAIL_1>", r.mapping | stored) == "ask <EMAIL_1>"


def test_a_resumed_tagged_conversation_keeps_its_tag() -> None:
    first = Redactor()
    mapping = first.redact("alice@corp.example").mapping
    again = Redactor()
    again.seed(mapping)
    text = again.redact("alice@corp.example and bob@corp.example").text
    tags = {m.group(3) for m in TAGGED.finditer(text)}
    assert tags == {TAGGED.search(next(iter(mapping))).group(3)}  # type: ignore[union-attr]


@pytest.mark.parametrize("typed", ["<EMAIL_1>", "<TERM_7>", "<EMAIL_1_>"])
def test_seeding_ignores_entries_that_are_not_placeholders(typed: str) -> None:
    r = Redactor()
    r.seed({"not a placeholder": "x@y.example", typed: "z@y.example"})
    assert restore(typed, r.mapping) == typed


def test_the_longest_placeholder_fits_what_a_stream_may_hold_back() -> None:
    from app.core.guard.placeholders import _MAX_PLACEHOLDER, make_placeholder, new_tag
    from app.core.guard.recognizers import BUILT_IN

    kinds = {rec.kind for rec in BUILT_IN} | {"TERM", "CUSTOM"}
    longest = max(len(make_placeholder(kind, 10**6, new_tag())) for kind in kinds)
    assert longest <= _MAX_PLACEHOLDER


def test_detect_counts_without_assigning_placeholders() -> None:
    from app.core.engines.base import ChatMessage

    r = Redactor()
    counts = r.detect([ChatMessage("user", "TOP SECRET: mail a@b.example")])
    assert counts == {"CLASSIFICATION": 1, "EMAIL": 1}
    assert r.mapping == {}

"""Auto routing's check: deterministic signals as classes, the semantic margin, examples."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.auto_route import SemanticCheck, SensitivityCheck, auto_mode, read_examples
from app.core.engines.base import ChatMessage
from app.core.policy.effective import build_effective
from app.core.policy.validate import parse_bytes
from tests.policies import make_root


def policy(**sections: Any) -> Any:
    doc = {"schema_version": 1, **sections}
    return build_effective([parse_bytes(json.dumps(doc).encode(), "test")], [])


SITE = policy(redaction={"custom_terms": ["NIGHTJAR"]}, routing={"mode": "auto"})


def check(*texts: str, **kwargs: Any) -> Any:
    return SensitivityCheck(SITE).check([ChatMessage("user", t) for t in texts], **kwargs)


@pytest.mark.parametrize(("text", "signal"), [
    ("secret//noforn summarise this", "finding:CLASSIFICATION"),
    ("Top Secret: rewrite the ending", "finding:CLASSIFICATION"),
    ("status of night\u200bjar?", "finding:TERM"),
    ("ＮＩＧＨＴＪＡＲＳ are late", "finding:TERM"),
    ("mail alice@corp.example today", "finding:EMAIL"),
    ("call +1 202 555 0143", "finding:PHONE"),
    ("card 4111 1111 1111 1111", "finding:CARD"),
    ("iban gb82 west 1234 5698 7654 32", "finding:IBAN"),
    ("SSN 536-22-1234", "finding:SSN"),
    ("postgres://admin:hunter2@db.internal/prod", "finding:URL_CREDENTIALS"),
    ("the host 10.20.30.40 is down", "finding:IP"),
])
def test_every_deterministic_class_keeps_the_turn_here(text: str, signal: str) -> None:
    result = check(text)
    assert result.sensitive and result.deterministic
    assert signal in [s.name for s in result.signals]
    assert result.reason().startswith("contains")


def test_an_earlier_turn_keeps_a_general_question_here() -> None:
    result = check("My email is carol@corp.example.", "Now write a poem about spring.")
    assert result.sensitive and result.signals[0].name == "finding:EMAIL"


def test_stickiness_and_local_only_documents_are_deterministic() -> None:
    sticky = check("What is the capital of Peru?", conversation_sensitive=True)
    assert sticky.deterministic and sticky.signals[0].name == "conversation:sensitive"
    docs = check("What is the capital of Peru?", local_only_documents=True)
    assert docs.deterministic and docs.signals[0].name == "documents:local-only"


def test_a_general_question_has_no_signal() -> None:
    result = check("Explain how photosynthesis works.")
    assert not result.sensitive and result.reason() == "general question"
    assert result.record()["signals"] == []


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200),
       st.integers(min_value=0, max_value=200))
def test_a_custom_term_anywhere_in_any_text_is_found(noise: str, at: int) -> None:
    at = min(at, len(noise))
    text = noise[:at] + " NightJar " + noise[at:]
    assert "finding:TERM" in [s.name for s in check(text).signals]


def test_admin_listed_types_add_to_the_always_local_ones() -> None:
    narrow = policy(routing={"mode": "auto", "local_types": []})
    checker = SensitivityCheck(narrow)
    assert not checker.check([ChatMessage("user", "mail bob@corp.example")]).sensitive
    assert checker.check([ChatMessage("user", "TOP SECRET: x")]).sensitive  # always local


@pytest.mark.parametrize(("mode", "groups_modes", "groups", "auto"), [
    ("manual", {}, [], False),
    ("auto", {}, [], True),
    ("manual", {"analysts": "auto"}, ["analysts"], True),
    ("auto", {"legal": "manual"}, ["legal"], False),
    ("auto", {"analysts": "auto", "legal": "manual"}, ["analysts", "legal"], False),
    ("manual", {"analysts": "auto"}, ["staff"], False),
])
def test_group_overrides_and_the_cautious_choice(mode: str, groups_modes: dict[str, str],
                                                 groups: list[str], auto: bool) -> None:
    pol = policy(routing={"mode": mode, "group_modes": groups_modes})
    assert auto_mode(pol, groups) is auto


def test_examples_come_only_from_a_trusted_managed_file(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    assert read_examples(root, "sensitive-topics.txt") == ([], None)
    path = root / "managed" / "sensitive-topics.txt"
    path.write_text("# a comment\nLayoff plans\n\n  Merger talks  \n")
    os.chmod(path, 0o644)
    assert read_examples(root, "sensitive-topics.txt") == (["Layoff plans", "Merger talks"], None)
    os.chmod(path, 0o666)  # anyone could rewrite what counts as sensitive
    examples, problem = read_examples(root, "sensitive-topics.txt")
    assert examples == [] and problem and "writable" in problem
    os.chmod(path, 0o644)
    assert read_examples(root, "../../etc/passwd")[0] == []  # a name, never a path


def test_the_semantic_margin_with_the_real_embedder(embedding_files: Any) -> None:
    from app.core.docs.embed import Embedder

    embedder = Embedder(embedding_files)
    semantic = SemanticCheck(["Planned layoffs and headcount reductions not yet announced",
                              "An employee's disciplinary case or dismissal"],
                             embedder.embed, threshold=0.08)
    checker = SensitivityCheck(SITE, semantic=semantic)
    sensitive = checker.check([ChatMessage("user", "Draft the list of people in the Glasgow "
                                                   "team who will be made redundant in June.")])
    assert sensitive.sensitive and not sensitive.deterministic
    assert sensitive.signals[0].name == "semantic:similar-topic"
    assert sensitive.signals[0].score is not None and sensitive.signals[0].score >= 0.08
    general = checker.check([ChatMessage("user", "How do tides work?")])
    assert not general.sensitive and general.similarity is not None
    calls = embedder.calls
    checker.check([ChatMessage("user", "How do tides work?")])
    assert embedder.calls == calls  # the conversation's context is embedded once


ONPREM = {"name": "onprem", "kind": "openai", "base_url": "https://llm.corp.example/v1",
          "classification": "internal", "models": ["llama"]}


def _site(tmp_path: Path, routing: dict[str, Any], users: list[str] | None = None) -> Any:
    from app.core.policy import load_policy
    from tests.policies import policy_root

    doc = {"connector": {"enabled": True, "allowed_users": users or ["alice"],
                         "endpoints": [ONPREM]},
           "redaction": {"custom_terms": ["NIGHTJAR"]}, "routing": {"mode": "auto", **routing}}
    pol = load_policy(policy_root(tmp_path, doc))
    assert not pol.restricted, pol.restricted_reasons
    return pol


# (case, routing, user, text, requested, route, rule contains, reason starts)
DECISIONS: list[tuple[Any, ...]] = [
    ("general goes out", {"auto_endpoint": "onprem"}, "alice", "How do tides work?", None,
     "onprem", "allowed_users", "Remote (onprem) — general question"),
    ("a marking stays", {"auto_endpoint": "onprem"}, "alice", "SECRET//NOFORN x", None,
     "local", "routing:auto:finding:CLASSIFICATION", "Local — contains a classification"),
    ("forcing remote over a deterministic signal", {"auto_endpoint": "onprem"}, "alice",
     "status of NIGHTJAR", "onprem", "local", "routing:auto:finding:TERM", "Local — contains"),
    ("--route local is honoured", {"auto_endpoint": "onprem"}, "alice", "How do tides work?",
     "local", "local", "route:local", "Local — you chose"),
    ("no auto endpoint is simply local", {}, "alice", "How do tides work?", None, "local",
     "routing.auto_endpoint", "Local — no remote model"),
    ("outside the gate is simply local", {"auto_endpoint": "onprem"}, "mallory",
     "How do tides work?", None, "local", "allowed_users", "Local — the remote model is not"),
]


@pytest.mark.parametrize(("case", "routing", "user", "text", "requested", "route", "rule",
                          "reason"), DECISIONS, ids=[c[0] for c in DECISIONS])
def test_auto_decisions(tmp_path: Path, case: str, routing: dict[str, Any], user: str,
                        text: str, requested: str | None, route: str, rule: str,
                        reason: str) -> None:
    from app.core.auto_route import auto_decision

    pol = _site(tmp_path, routing)
    found = SensitivityCheck(pol).check([ChatMessage("user", text)])
    decision = auto_decision(pol, found, requested=requested, user=user, groups=[])
    assert decision.route == route, case
    assert rule in decision.rule and decision.reason.startswith(reason), decision


def test_restricted_mode_is_always_local(tmp_path: Path) -> None:
    from app.core.auto_route import auto_decision
    from app.core.policy import load_policy
    from tests.policies import policy_root

    broken = load_policy(policy_root(tmp_path, '{"schema_version": 1, "connector": '))
    assert broken.restricted
    found = SensitivityCheck(broken).check([ChatMessage("user", "How do tides work?")])
    decision = auto_decision(broken, found, requested=None, user="alice", groups=[])
    assert decision.route == "local" and not decision.remote


def test_the_router_fails_closed_when_its_examples_cannot_be_trusted(tmp_path: Path) -> None:
    from app.core.auto_router import AutoRouter

    pol = _site(tmp_path, {"auto_endpoint": "onprem"})
    root = tmp_path / "policies"
    examples = root / "managed" / "sensitive-topics.txt"
    examples.write_text("Layoff plans\n")
    os.chmod(examples, 0o666)
    router = AutoRouter(pol, root, embedder=None)
    decision, found = router.decide([ChatMessage("user", "How do tides work?")],
                                    requested=None, user="alice", groups=[])
    assert decision.route == "local" and "cannot be trusted" in decision.reason
    assert found.signals[0].name == "routing:examples-untrusted"


def test_the_router_fails_closed_without_an_embedder(tmp_path: Path) -> None:
    from app.core.auto_router import AutoRouter

    pol = _site(tmp_path, {"auto_endpoint": "onprem"})
    root = tmp_path / "policies"
    examples = root / "managed" / "sensitive-topics.txt"
    examples.write_text("Layoff plans\n")
    os.chmod(examples, 0o644)
    decision, _ = AutoRouter(pol, root, embedder=None).decide(
        [ChatMessage("user", "How do tides work?")], requested=None, user="alice", groups=[])
    assert decision.route == "local" and "cannot run" in decision.reason
    # With no examples at all the semantic check is simply off: general questions go out.
    examples.unlink()
    decision, _ = AutoRouter(pol, root, embedder=None).decide(
        [ChatMessage("user", "How do tides work?")], requested=None, user="alice", groups=[])
    assert decision.route == "onprem"

"""Classification markings: caught in any case and any disguise; ordinary prose passes.

A marking keeps the whole turn on this machine (``routing.BLOCKING_ENTITY_TYPES``), so a
missed marking sends classified text out; a false alarm only keeps a turn local. The tables
lean that way on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.engines.base import ChatMessage
from app.core.guard.redact import Redactor
from app.core.outbound import plan_turn
from app.core.policy import EffectivePolicy, load_policy
from tests.policies import policy_root

BANNERS = [
    "TOP SECRET//SI//NOFORN",
    "top secret//si//noforn",
    "Top Secret",
    "top secret",
    "tOp SeCrEt//NoFoRn",
    "top-secret",
    "TOPSECRET",
    "COSMIC TOP SECRET",
    "SECRET//NOFORN",
    "Secret//Noforn",
    "secret//rel to usa, fvey",
    "s//rel to usa",
    "S//REL TO USA, GBR",
    "ts//si//tk",
    "TS//SCI",
    "confidential//rel to gbr",
    "c//noforn",
    "unclassified//fouo",
    "u//fouo",
    "noforn",
    "NoForn",
    "orcon",
    "ORCON",
    "relido",
    "Official-Sensitive",
    "OFFICIAL-SENSITIVE",
    "official sensitive",
    "SECRET",
    "CONFIDENTIAL",
    "STRICTLY CONFIDENTIAL",
    "(TS//SI)",
    "(ts//si)",
    "(S//NF)",
    "(s//nf)",
    "(S//REL TO USA)",
    "(c//rel)",
    "(u//fouo)",
    "(TS)",
    "(ts)",
    "(S)",
    # Disguises: fullwidth letters, zero-width and format characters, non-breaking spaces.
    "ＴＯＰ ＳＥＣＲＥＴ",
    "ｓｅｃｒｅｔ／／ｎｏｆｏｒｎ",
    "T\u200bOP SE\u200dCRET",
    "TOP\u00a0SECRET",
    "no\u00adforn",
    "S\u2060//\u2060NF",
    "(T\u200bS//SI)",
]

PROSE = [
    "a secret plan",
    "restricted access",
    "kept confidential",
    "The secret to good bread is time.",
    "Access is restricted to staff on weekdays.",
    "Please keep this confidential between us.",
    "The classified ads are on page 4.",
    "UNCLASSIFIED",
    "Read https://example.com//path and file:///tmp/x.",
    "See items (a), (b) and (c); the file(s) and item(s) are attached.",
    "TCP/IP, I/O, and/or, 3/4 cup, 2024/25 budget.",
    "Official figures were released on Tuesday.",
    "She told us a secret: the restricted area reopens at 9:30.",
    "Smoking is STRICTLY PROHIBITED on the TOP FLOOR.",
    "The cosmic secrets of the universe; a desktop secretary; stop, secretly.",
    "Use // for comments and s/foo/bar/ to substitute; https://a.example/s//x.",
]


@pytest.mark.parametrize("marking", BANNERS)
def test_a_marking_is_found_in_any_case_and_disguise(marking: str) -> None:
    text = f"Summary.\n{marking}\nThe plan is attached."
    result = Redactor().redact(text)
    assert result.counts.get("CLASSIFICATION", 0) >= 1, marking


@pytest.mark.parametrize("text", PROSE)
def test_ordinary_prose_with_marking_words_passes(text: str) -> None:
    result = Redactor().redact(text)
    assert "CLASSIFICATION" not in result.counts, (text, result.text)


_CASES = st.sampled_from(["TOP SECRET//SI//NOFORN", "SECRET//REL TO USA", "(TS//SI)", "NOFORN"])


@settings(max_examples=200, deadline=None)
@given(_CASES, st.lists(st.booleans(), min_size=30, max_size=30))
def test_any_casing_of_a_banner_is_found(marking: str, upper: list[bool]) -> None:
    cased = "".join(c.upper() if u else c.lower() for c, u in zip(marking, upper, strict=False))
    cased += marking[len(upper):]
    assert Redactor().redact(f"Re: {cased} briefing").counts.get("CLASSIFICATION")


def _policy(tmp_path: Path, connector: dict[str, Any], **sections: Any) -> EffectivePolicy:
    return load_policy(policy_root(tmp_path, {"connector": connector, **sections},
                                   file_name="10-connector.json"))


def _connector(classification: str, require_redaction: bool) -> dict[str, Any]:
    return {"enabled": True, "allowed_users": ["alice"], "require_redaction": require_redaction,
            "require_confirmation": False,
            "endpoints": [{"name": "ep", "kind": "openai", "base_url": "https://llm.example/v1",
                           "classification": classification, "models": ["m"]}]}


@pytest.mark.parametrize(
    ("classification", "require_redaction"),
    [("external", True), ("internal", True), ("internal", False)],
)
@pytest.mark.parametrize("marking", ["top secret//si//noforn", "Top Secret", "(ts//si)"])
def test_a_lowercase_marking_keeps_the_turn_on_this_machine(
    tmp_path: Path, classification: str, require_redaction: bool, marking: str
) -> None:
    policy = _policy(tmp_path, _connector(classification, require_redaction))
    plan = plan_turn(policy, requested="ep", user="alice", groups=[],
                     messages=[ChatMessage("user", f"{marking} summary of the plan")],
                     redactor=None, confirm=None)
    assert not plan.remote, "a marked text must not leave, redacted or not"
    assert plan.decision.rule.startswith("redaction:blocking")


def test_an_administrator_may_allow_markings_to_an_internal_server(tmp_path: Path) -> None:
    policy = _policy(tmp_path, _connector("internal", False), redaction={"blocking_types": []})
    plan = plan_turn(policy, requested="ep", user="alice", groups=[],
                     messages=[ChatMessage("user", "SECRET//NOFORN summary")],
                     redactor=None, confirm=None)
    assert plan.remote
    assert plan.messages[0].content == "SECRET//NOFORN summary"

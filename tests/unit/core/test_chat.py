"""The turn pipeline's contract: decisions in order, nothing stored for a refused turn.

Real policy files, history, audit log and the local model (``model`` marker).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.context import AppContext, open_app
from app.core.engines.base import GenerationParams
from app.core.outbound import RouteRefused
from app.core.paths import AppPaths
from tests.policies import policy_root

pytestmark = pytest.mark.model

PASSPHRASE = "a passphrase for the pipeline tests"
ENDPOINT = {"name": "acme-ai", "kind": "openai", "base_url": "https://api.acme.example/v1",
            "classification": "external", "models": ["acme-large"]}


@pytest.fixture
def app(tmp_path: Path, model_paths: AppPaths) -> Iterator[AppContext]:
    root = policy_root(tmp_path, {"connector": {
        "enabled": True, "allowed_users": ["somebody-else"], "endpoints": [ENDPOINT]}})
    ctx = open_app(dataclasses.replace(model_paths, policy_root=root), passphrase=PASSPHRASE)
    ctx.chat.params = GenerationParams(max_tokens=4, seed=1)
    yield ctx
    ctx.close()


def _events(ctx: AppContext) -> list[dict[str, object]]:
    assert ctx.audit is not None
    return [json.loads(line) for line in ctx.audit.path.read_text().splitlines()]


def test_a_local_turn_decides_in_the_designs_order(app: AppContext) -> None:
    result = app.chat.send("Hello there.")
    steps = [d.step for d in result.decisions]
    assert steps == ["authorize", "route"]
    assert all(d.allowed for d in result.decisions)
    assert "models.allowed_sha256" in result.decisions[0].rule  # the model allowlist's rule
    assert result.decisions[-1].rule == "route:local"
    call = [e for e in _events(app) if e["event"] == "model.call"][-1]
    assert call["policy"]["rule"] == "route:local"  # type: ignore[index]


def test_a_refused_route_stores_nothing_and_says_which_rule(app: AppContext) -> None:
    assert app.history is not None
    before = app.history.counts()
    with pytest.raises(RouteRefused) as caught:
        app.chat.send("Send this away.", route="acme-ai")
    assert "connector.allowed_users" in caught.value.rule
    assert app.history.counts() == before, "a refused turn left a conversation behind"
    refused = [e for e in _events(app) if e["event"] == "policy.refused"][-1]
    assert refused["policy"]["rule"] == caught.value.rule  # type: ignore[index]


def test_regenerating_answers_the_same_message_again_and_keeps_the_first_answer(
    app: AppContext,
) -> None:
    first = app.chat.send("Name a colour.")
    again = app.chat.regenerate(first.conversation_id, first.user_message_id or 0)
    assert again.user_message_id == first.user_message_id
    assert again.assistant_message_id != first.assistant_message_id
    assert app.history is not None
    answers = [m for m in app.history.messages(first.conversation_id) if m.role == "assistant"]
    assert {m.parent_id for m in answers} == {first.user_message_id}
    assert len(answers) == 2

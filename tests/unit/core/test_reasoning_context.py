"""An earlier answer's reasoning stays in the history and out of the next turn's context.

The real SmolLM2 never writes ``<think>``, so the reasoning answer is stored directly in the
history (as a reasoning model's turn would have stored it); the next turn runs on the real
model, whose ``stream`` is wrapped only to record the messages it was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.context import AppContext, open_app
from app.core.conversations import as_chat, as_context
from app.core.engines.base import ChatMessage, GenerationParams
from app.core.paths import AppPaths
from app.core.store.records import Message

THOUGHT = "The user asks for France's capital; recall geography."
ANSWER = f"<think>\n{THOUGHT}\n</think>\n\nParis."


def stored(role: str, text: str, mid: int) -> Message:
    return Message(mid, 1, mid - 1 or None, role, text, None, None, "local", 0.0, None, None,
                   None, None, True)


@pytest.mark.parametrize(("role", "text", "context"), [
    ("assistant", ANSWER, "Paris."),
    ("assistant", "I was told</think>Paris.", "Paris."),
    ("assistant", "Paris.", "Paris."),
    # What the user typed is theirs, markers and all.
    ("user", "What does <think> mean?", "What does <think> mean?"),
    ("system", "<think>kept</think>", "<think>kept</think>"),
])
def test_as_context(role: str, text: str, context: str) -> None:
    assert as_context(role, text) == context


def test_an_answer_that_was_all_reasoning_is_left_out_of_the_context() -> None:
    chain = [stored("user", "Q", 1), stored("assistant", "<think>only this", 2),
             stored("user", "Again?", 3)]
    assert as_chat(chain) == [ChatMessage("user", "Q"), ChatMessage("user", "Again?")]


@pytest.fixture
def app(model_paths: AppPaths) -> Iterator[AppContext]:
    ctx = open_app(model_paths, passphrase="reasoning context passphrase")
    ctx.chat.params = GenerationParams(max_tokens=4, seed=1)
    ctx.chat.load_model(None)
    yield ctx
    ctx.close()


def recording(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> list[list[ChatMessage]]:
    """Wrap the real engine's ``stream`` so each prompt it gets is kept."""
    engine = ctx.chat.engine
    assert engine is not None
    prompts: list[list[ChatMessage]] = []
    real = engine.stream

    def stream(messages: list[ChatMessage], *args: Any, **kwargs: Any) -> Any:
        prompts.append(list(messages))
        return real(messages, *args, **kwargs)

    monkeypatch.setattr(engine, "stream", stream)
    return prompts


@pytest.mark.model
def test_the_next_turn_gets_the_earlier_answer_without_its_thinking(
    app: AppContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    history = app.history
    assert history is not None
    cid = history.create_conversation("Capitals")
    asked = history.add_message(cid, "user", "What is the capital of France?")
    history.add_message(cid, "assistant", ANSWER, parent_id=asked, model_id="reasoner")
    prompts = recording(app, monkeypatch)
    app.chat.send("And of Germany?", conversation_id=cid)
    sent = prompts[-1]
    earlier = [m.content for m in sent if m.role == "assistant"]
    assert earlier == ["Paris."]
    assert not any(THOUGHT in m.content or "<think>" in m.content for m in sent)
    # The history still keeps the answer exactly as it was written.
    assert [m.text for m in history.messages(cid) if m.role == "assistant"][0] == ANSWER


@pytest.mark.model
def test_an_unsaved_conversation_leaves_the_thinking_out_too(
    model_paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = open_app(model_paths, save=False)
    try:
        ctx.chat.params = GenerationParams(max_tokens=4, seed=1)
        ctx.chat.load_model(None)
        cid = ctx.chat.conversations.new()
        ctx.chat.conversations.remember(cid, ChatMessage("user", "Capital of France?"))
        ctx.chat.conversations.remember(cid, ChatMessage("assistant", ANSWER))
        prompts = recording(ctx, monkeypatch)
        ctx.chat.send("And of Germany?", conversation_id=cid)
        assert [m.content for m in prompts[-1] if m.role == "assistant"] == ["Paris."]
    finally:
        ctx.close()

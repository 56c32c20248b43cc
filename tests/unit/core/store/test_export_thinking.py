"""Exports leave a reasoning model's thinking out unless asked, and mark it when asked."""

from __future__ import annotations

import json

import pytest

from app.core.store import HistoryStore
from app.core.store.export import render

THOUGHT = "They want the capital; France's is Paris."
ANSWER = f"<think>\n{THOUGHT}\nSecond line.\n</think>\n\nParis is the capital."


@pytest.fixture
def conversation(store: HistoryStore) -> int:
    cid = store.create_conversation("Capitals")
    asked = store.add_message(cid, "user", "What is the capital of France?")
    store.add_message(cid, "assistant", ANSWER, parent_id=asked, model_id="reasoner")
    return cid


def exported(store: HistoryStore, cid: int, fmt: str, *, thinking: bool) -> str:
    messages = store.messages(cid)
    return render(store.conversation(cid), messages, fmt, include_thinking=thinking)


def test_the_history_keeps_the_answer_as_written(store: HistoryStore, conversation: int) -> None:
    assert store.messages(conversation)[-1].text == ANSWER


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_by_default_an_export_has_the_answer_only(
    store: HistoryStore, conversation: int, fmt: str,
) -> None:
    for text in (exported(store, conversation, fmt, thinking=False),
                 store.export_conversation(conversation, fmt)):  # what the GUI and CLI write
        assert "Paris is the capital." in text
        assert THOUGHT not in text and "<think>" not in text and "Thinking" not in text


def test_markdown_with_thinking_quotes_it_before_the_answer(
    store: HistoryStore, conversation: int,
) -> None:
    md = exported(store, conversation, "md", thinking=True)
    assert "<think>" not in md
    assert f"> **Thinking**\n>\n> {THOUGHT}\n> Second line.\n\nParis is the capital." in md


def test_json_with_thinking_has_a_separate_field(store: HistoryStore, conversation: int) -> None:
    messages = json.loads(exported(store, conversation, "json", thinking=True))["messages"]
    assert messages[1]["text"] == "Paris is the capital."
    assert messages[1]["thinking"] == f"{THOUGHT}\nSecond line."
    assert "thinking" not in messages[0]  # the user's message has none
    plain = json.loads(exported(store, conversation, "json", thinking=False))["messages"]
    assert all("thinking" not in m for m in plain)

"""AnthropicEngine against a FAKE Messages streaming server (no real one runs here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.engines.base import ChatMessage, GenerationParams
from app.core.engines.remote import AnthropicEngine, build_engine
from app.core.engines.remote_errors import RemoteAuthError
from tests.integration.connector.servers import FakeAnthropicMessagesServer


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicMessagesServer]:
    server = FakeAnthropicMessagesServer(api_key="test-anthropic-key")
    yield server
    server.close()


def engine_for(server: FakeAnthropicMessagesServer, key: str) -> AnthropicEngine:
    engine = build_engine(
        {"name": "claude", "kind": "anthropic", "base_url": server.base_url,
         "classification": "external", "models": ["fake-claude"]},
        key,
    )
    assert isinstance(engine, AnthropicEngine)
    return engine


def test_streams_the_messages_protocol(fake_anthropic: FakeAnthropicMessagesServer) -> None:
    engine = engine_for(fake_anthropic, "test-anthropic-key")
    pieces: list[str] = []
    try:
        completion = engine.stream(
            [ChatMessage("system", "Be brief."), ChatMessage("user", "hello there friend")],
            GenerationParams(max_tokens=64, stop=("END",)), pieces.append,
        )
    finally:
        engine.close()
    assert completion.text == "You said: hello there friend"
    assert pieces == ["You ", "said: ", "hello ", "there ", "friend"]
    assert completion.finish_reason == "stop"
    assert (completion.prompt_tokens, completion.completion_tokens) == (12, 5)
    body = fake_anthropic.bodies[0]
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "hello there friend"}]
    assert body["max_tokens"] == 64 and body["stop_sequences"] == ["END"] and body["stream"]
    assert engine.info.route == "claude" and engine.info.device == "remote"


def test_conversation_roles_alternate_starting_with_the_user(
    fake_anthropic: FakeAnthropicMessagesServer,
) -> None:
    engine = engine_for(fake_anthropic, "test-anthropic-key")
    history = [ChatMessage("assistant", "Hi!"), ChatMessage("user", "a"),
               ChatMessage("user", "b")]
    try:
        completion = engine.stream(history, GenerationParams(max_tokens=8), lambda _p: None)
    finally:
        engine.close()
    roles = [m["role"] for m in fake_anthropic.bodies[0]["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert completion.text == "You said: a\n\nb"


def test_a_wrong_key_is_refused_clearly(fake_anthropic: FakeAnthropicMessagesServer) -> None:
    engine = engine_for(fake_anthropic, "wrong-key")
    try:
        with pytest.raises(RemoteAuthError) as caught:
            engine.stream([ChatMessage("user", "hi")], GenerationParams(), lambda _p: None)
    finally:
        engine.close()
    assert "ask your administrator" in caught.value.message
    assert "wrong-key" not in str(caught.value)

"""ChatService: one turn end to end, the conversation carried between turns."""

from __future__ import annotations

import threading

import pytest

from app.core.chat import ChatService
from app.core.engines.base import GenerationParams
from app.core.models.errors import ModelNotFound
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths

pytestmark = pytest.mark.model


def test_second_turn_sees_the_first(model_paths: AppPaths) -> None:
    chat = ChatService(ModelRegistry(model_paths), params=GenerationParams(max_tokens=16, seed=1))
    try:
        first = chat.send("My name is Ada.")
        second = chat.send("What is my name?", conversation_id=first.conversation_id)
        c1, c2 = first.completion, second.completion
        assert second.conversation_id == first.conversation_id
        assert c2.prompt_tokens > c1.prompt_tokens + c1.completion_tokens
        assert [m.role for m in chat.transcript(first.conversation_id)] == [
            "user", "assistant", "user", "assistant"
        ]
    finally:
        chat.close()


def test_cancelled_turn_is_kept_and_marked(model_paths: AppPaths) -> None:
    chat = ChatService(ModelRegistry(model_paths), params=GenerationParams(max_tokens=300))
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            cancel.set()

    try:
        result = chat.send("Tell me a long story.", on_token=on_token, cancel=cancel)
        assert result.completion.finish_reason == "cancelled"
        transcript = chat.transcript(result.conversation_id)
        assert transcript[-1].content == result.completion.text != ""
    finally:
        chat.close()


def test_missing_model_is_a_typed_error(app_paths: AppPaths) -> None:
    chat = ChatService(ModelRegistry(app_paths))
    with pytest.raises(ModelNotFound, match="not installed"):
        chat.send("hello")


def test_turns_are_saved_and_branches_kept(model_paths: AppPaths) -> None:
    from app.core.context import open_app

    app = open_app(model_paths, passphrase="correct horse battery staple")
    app.chat.params = GenerationParams(max_tokens=12, seed=5)
    try:
        first = app.chat.send("Name a fruit.")
        cid = first.conversation_id
        second = app.chat.send("Name a vegetable.", conversation_id=cid)
        assert second.completion.prompt_tokens > first.completion.prompt_tokens
        # Regenerate the first answer: a sibling of the first assistant message.
        assert first.user_message_id is not None
        again = app.chat.regenerate(cid, first.user_message_id)
        stored = {m.id: m for m in app.history.messages(cid)}  # type: ignore[union-attr]
        assert stored[again.assistant_message_id].parent_id == first.user_message_id
        assert first.assistant_message_id in stored, "the old answer stays in history"
        # The regenerated branch does not contain the second question.
        assert "Name a vegetable." not in [m.content for m in app.chat.transcript(cid)]
        # Edit the second question and resend: a sibling of the original second question.
        edited = app.chat.send("Name a colour.", conversation_id=cid,
                               parent_id=first.assistant_message_id)
        branch = [m.content for m in app.chat.transcript(cid)]
        assert branch[:2] == ["Name a fruit.", first.completion.text]
        assert branch[2] == "Name a colour."
        assert edited.completion.text and stored[second.user_message_id].text == (
            "Name a vegetable.")
        saved = app.history.messages(cid)  # type: ignore[union-attr]
        assert all(m.complete for m in saved if m.role == "assistant")
        assert saved[-1].model_sha256 == app.chat.engine.info.model_sha256  # type: ignore[union-attr]
    finally:
        app.close()


def test_editing_the_first_message_keeps_the_old_branch(model_paths: AppPaths) -> None:
    from app.core.chat import ROOT
    from app.core.context import open_app

    app = open_app(model_paths, passphrase="correct horse battery staple")
    app.chat.params = GenerationParams(max_tokens=8, seed=5)
    try:
        first = app.chat.send("Name a fruit.")
        cid = first.conversation_id
        edited = app.chat.send("Name a tree.", conversation_id=cid, parent_id=ROOT)
        assert edited.conversation_id == cid
        assert [m.content for m in app.chat.transcript(cid)][0] == "Name a tree."
        texts = [m.text for m in app.history.messages(cid)]  # type: ignore[union-attr]
        assert "Name a fruit." in texts and "Name a tree." in texts
    finally:
        app.close()


def test_where_no_engine_process_can_run_the_model_loads_in_process(
    model_paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.engines import engine_process
    from app.core.engines.base import EngineOptions
    from app.core.engines.local import LocalEngine

    monkeypatch.setattr(engine_process, "engine_process_supported", lambda: False)
    chat = ChatService(ModelRegistry(model_paths), params=GenerationParams(max_tokens=4),
                       options=EngineOptions(context_length=1024))
    try:
        chat.load_model()
        assert isinstance(chat.engine, LocalEngine)
        assert chat.send("Hi").completion.completion_tokens > 0
    finally:
        chat.close()

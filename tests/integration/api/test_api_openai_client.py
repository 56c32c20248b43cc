"""The official ``openai`` client against the real local API: what a user's program sees."""

from __future__ import annotations

import base64
import time

import numpy as np
import openai
import pytest

from tests.integration.api.conftest import EMBEDDING_MODEL, MODEL, RunningApi

pytestmark = [pytest.mark.model, pytest.mark.keyring, pytest.mark.slow]

HELLO = [{"role": "user", "content": "Say hello."}]


def test_chat_whole_and_streamed_answers_are_turns_named_by_the_token(start_api) -> None:
    api: RunningApi = start_api()
    client = api.client()
    assert [m.id for m in client.models.list()] == [MODEL, EMBEDDING_MODEL]

    whole = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=6,
                                           temperature=0, seed=1)
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert 0 < whole.usage.completion_tokens <= 6
    assert whole.model == MODEL

    pieces, usage = [], None
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."}, *HELLO],
        max_tokens=6, temperature=0, seed=1, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces)
    assert usage is not None and 0 < usage.completion_tokens <= 6

    calls = api.audit_records("model.call")  # policy requires the audit: start and end
    assert all(c["detail"]["api_token"] == "main" for c in calls)
    assert all(c["model"]["id"] == MODEL for c in calls)
    assert len([c for c in calls if c["outcome"]["reason"] != "started"]) == 2
    # History is off unless the token's scope asks for it.
    assert api.ctx.history.counts() == (0, 0)


def test_a_history_scoped_token_keeps_its_conversations(start_api) -> None:
    api: RunningApi = start_api()
    token = api.token("notes", scopes="chat,history")
    client = api.client(token)
    client.chat.completions.create(
        model=MODEL, max_tokens=4, messages=[
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada."},
            {"role": "user", "content": "What is my name?"}])
    [conversation] = api.ctx.history.list_conversations()
    assert conversation.title.startswith("API notes: What is my name?")
    roles = [m.role for m in api.ctx.history.messages(conversation.id)]
    assert roles == ["user", "assistant", "user", "assistant"]


def test_embeddings_as_floats_and_as_the_clients_default_base64(start_api) -> None:
    api: RunningApi = start_api()
    client = api.client()
    texts = ["The cat sat on the mat.", "A cat was sitting on a rug.", "Quarterly tax report"]
    floats = client.embeddings.create(model=EMBEDDING_MODEL, input=texts,
                                      encoding_format="float")
    vectors = np.array([d.embedding for d in floats.data], dtype=np.float32)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # similar texts lie close
    assert floats.usage.prompt_tokens > 0

    raw = client.embeddings.with_raw_response.create(model=EMBEDDING_MODEL, input=texts[0],
                                                     encoding_format="base64").http_response
    packed = raw.json()["data"][0]["embedding"]
    assert np.allclose(np.frombuffer(base64.b64decode(packed), dtype="<f4"), vectors[0],
                       atol=1e-6)
    default = client.embeddings.create(model=EMBEDDING_MODEL, input=texts[0])
    assert np.allclose(default.data[0].embedding, vectors[0], atol=1e-6)

    [record, *_] = api.audit_records("api.embeddings")
    assert record["detail"] == {"api_token": "main", "inputs": 3}
    assert "The cat" not in str(api.audit_records())


def test_an_input_longer_than_the_embedding_model_reads_is_refused(start_api) -> None:
    api: RunningApi = start_api()
    with pytest.raises(openai.BadRequestError) as caught:
        api.client().embeddings.create(model=EMBEDDING_MODEL, input=["word " * 400],
                                       encoding_format="float")
    assert caught.value.body["param"] == "input"
    assert "at most 256" in caught.value.body["message"]


def test_errors_come_in_openais_shape(start_api) -> None:
    api: RunningApi = start_api()
    client = api.client()
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):  # a path is a name like any other: no file read
        client.chat.completions.create(model="/etc/passwd.gguf", messages=HELLO)
    with pytest.raises(openai.BadRequestError) as negative:
        client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=-3)
    assert negative.value.body["param"] == "max_tokens"
    with pytest.raises(openai.BadRequestError) as huge:
        client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=10**12)
    assert huge.value.body["param"] == "max_tokens"
    with pytest.raises(openai.BadRequestError) as beyond:
        client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=500_000)
    assert beyond.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as hot:
        client.chat.completions.create(model=MODEL, messages=HELLO, temperature=7)
    assert hot.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as tools:
        client.chat.completions.create(model=MODEL, messages=HELLO, tools=[
            {"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert tools.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[
            {"role": "assistant", "content": "I speak last"}])
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model=MODEL, input="not a chat model's job")
    assert api.audit_records("model.call") == []  # nothing reached the model


def test_tokens_missing_wrong_expired_revoked_or_out_of_scope_are_refused(start_api) -> None:
    api: RunningApi = start_api()
    for bad in ("", "sk-openai-style", "enclave-" + "x" * 43):
        with pytest.raises(openai.AuthenticationError) as caught:
            api.client(bad or "-").models.list()
        assert caught.value.body["code"] == "invalid_api_key"

    soon = api.token("short", expires="1m")
    assert api.client(soon).models.list().data

    api.ctx.history.revoke_api_token("short", time.time())
    with pytest.raises(openai.AuthenticationError) as revoked:
        api.client(soon).models.list()
    assert "revoked" in revoked.value.body["message"]

    chat_only = api.token("chat-only", scopes="chat")
    with pytest.raises(openai.PermissionDeniedError) as scope:
        api.client(chat_only).embeddings.create(model=EMBEDDING_MODEL, input="x")
    assert scope.value.body["code"] == "scope_missing"
    assert [m.id for m in api.client(chat_only).models.list()] == [MODEL]

    failures = api.audit_records("api.auth_failed")
    assert failures and failures[0]["outcome"]["status"] == "denied"


def test_an_expired_token_is_refused(start_api) -> None:
    api: RunningApi = start_api()
    token = api.token("brief", expires="1m")
    assert {r.name: r.state(time.time()) for r in api.ctx.history.api_tokens()}["brief"] \
        == "active"
    api.server.services.auth.clock = lambda: time.time() + 120  # two minutes later
    with pytest.raises(openai.AuthenticationError) as caught:
        api.client(token).models.list()
    assert "expired" in caught.value.body["message"]

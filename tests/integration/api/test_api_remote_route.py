"""A token bound to a connector endpoint: the turn leaves only as policy allows, redacted.

The endpoint is the real llama.cpp OpenAI-compatible server on loopback, behind a relay
that keeps every byte it forwards: what a remote server would have seen.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from app.core.api.tokens import token_hash
from tests.integration.api.conftest import RunningApi
from tests.integration.connector.conftest import llama_server  # noqa: F401 - the fixture
from tests.integration.connector.servers import LoggingRelay

pytestmark = [pytest.mark.model, pytest.mark.keyring, pytest.mark.slow, pytest.mark.server]

EMAIL = "ada.lovelace@example.org"


@pytest.fixture
def relay(llama_server: int) -> Iterator[LoggingRelay]:  # noqa: F811 - pytest's injection
    relay = LoggingRelay(llama_server)
    yield relay
    relay.close()


def policy(tmp_path: Path, port: int, *, confirm: bool, routes: list[str]) -> dict:
    key_file = tmp_path / "onprem.key"
    key_file.write_text("any-key\n")
    os.chmod(key_file, 0o600)
    return {
        "api": {"enabled": True, "allowed_routes": routes},
        "connector": {"enabled": True, "allowed_users": ["*"], "require_confirmation": confirm,
                      "endpoints": [{"name": "onprem", "kind": "openai",
                                     "base_url": f"http://127.0.0.1:{port}/v1",
                                     "classification": "internal", "models": ["smollm2"],
                                     "api_key_file": str(key_file)}]},
    }


def test_a_remote_token_reaches_only_its_endpoint_and_only_redacted(
    tmp_path: Path, relay: LoggingRelay, start_api,
) -> None:
    api: RunningApi = start_api(managed=policy(tmp_path, relay.port, confirm=False,
                                               routes=["local", "onprem"]))
    token = api.token("remote", route="onprem")
    client = api.client(token)
    assert [m.id for m in client.models.list()] == ["smollm2"]
    with pytest.raises(openai.NotFoundError):  # the local model is not this token's
        client.chat.completions.create(model="smollm2-135m-instruct-q4_1",
                                       messages=[{"role": "user", "content": "Hi"}])
    answer = client.chat.completions.create(
        model="smollm2", max_tokens=6, temperature=0,
        messages=[{"role": "user", "content": f"Write one word to {EMAIL}."}])
    assert answer.model_extra["enclave"]["route"] == "onprem"
    sent = bytes(relay.received).decode("utf-8", "replace")
    assert EMAIL not in sent and re.search(r"<EMAIL_1_[a-z0-9]{8}>", sent)
    [call] = [r for r in api.audit_records("model.call") if r["outcome"]["reason"] != "started"]
    assert (call["route"]["name"], call["detail"]["api_token"]) == ("onprem", "remote")
    assert api.audit_records("redaction.applied")


def _old_token(api: RunningApi) -> str:
    """A token made when policy allowed its route (written directly: policy now refuses it)."""
    secret = "enclave-" + "r" * 43
    api.ctx.history.add_api_token("old-remote", token_hash(secret), scopes=("chat",),
                                  route="onprem", created=time.time(), expires=None)
    return secret


@pytest.mark.parametrize(("routes", "confirm", "code"), [
    (["local"], False, "route_not_allowed"),
    (["local", "onprem"], True, "confirmation_required"),
])
def test_a_route_policy_no_longer_allows_or_that_needs_confirmation_is_refused(
    tmp_path: Path, relay: LoggingRelay, start_api, routes, confirm, code,
) -> None:
    api: RunningApi = start_api(managed=policy(tmp_path, relay.port, confirm=confirm,
                                               routes=routes))
    client = api.client(_old_token(api))
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
    assert refused.value.body["code"] == code
    assert relay.received == bytearray()  # nothing left the machine

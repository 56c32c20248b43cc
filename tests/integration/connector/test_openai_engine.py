"""OpenAIEngine against the real llama.cpp OpenAI-compatible server, plain and behind TLS."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.base import ChatMessage, GenerationParams
from app.core.engines.remote import OpenAIEngine, build_engine
from app.core.engines.remote_errors import RemoteConfigError, RemoteTLSError
from app.core.engines.remote_http import RemoteTimeouts
from app.core.guard.redact import Redactor
from tests.integration.connector.corpus import MESSAGE, ORIGINALS
from tests.integration.connector.servers import LoggingRelay, LoopbackPKI

pytestmark = [pytest.mark.model, pytest.mark.slow]

PARAMS = GenerationParams(max_tokens=12, temperature=0.0)
QUESTION = [ChatMessage("user", "Name a colour.")]
TIMEOUTS = RemoteTimeouts(connect=2, read=30)


def endpoint(base_url: str, **extra: object) -> dict[str, object]:
    return {"name": "onprem", "kind": "openai", "base_url": base_url,
            "classification": "internal", "models": ["smollm2"], **extra}


@pytest.fixture
def tls_relay(llama_server: int, pki: LoopbackPKI) -> Iterator[LoggingRelay]:
    relay = LoggingRelay(llama_server, pki)
    yield relay
    relay.close()


def test_streams_an_answer_from_a_real_server(llama_server: int) -> None:
    engine = build_engine(endpoint(f"http://127.0.0.1:{llama_server}/v1"), None,
                          timeouts=TIMEOUTS)
    pieces: list[str] = []
    try:
        completion = engine.stream(QUESTION, PARAMS, pieces.append)
    finally:
        engine.close()
    assert isinstance(engine, OpenAIEngine)
    assert completion.complete and completion.text.strip()
    assert "".join(pieces) == completion.text
    assert len(pieces) > 1  # streamed, not one block
    assert completion.completion_tokens > 0 and completion.ttft_s > 0
    info = engine.info
    assert (info.route, info.device, info.model_id) == ("onprem", "remote", "smollm2")
    assert info.extra["classification"] == "internal"


def test_cancel_stops_the_stream_and_keeps_the_partial_answer(llama_server: int) -> None:
    engine = build_engine(endpoint(f"http://127.0.0.1:{llama_server}/v1"), None,
                          timeouts=TIMEOUTS)
    cancel = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 2:
            cancel.set()

    try:
        completion = engine.stream(QUESTION, GenerationParams(max_tokens=40, temperature=0.0),
                                   on_token, cancel)
    finally:
        engine.close()
    assert completion.finish_reason == "cancelled"
    assert completion.text == "".join(pieces) and len(pieces) == 2


def test_tls_server_is_trusted_through_the_endpoints_ca_bundle(
    tls_relay: LoggingRelay, pki: LoopbackPKI
) -> None:
    engine = build_engine(
        endpoint(f"https://127.0.0.1:{tls_relay.port}/v1", ca_bundle=str(pki.ca_file)),
        "sk-test-key-123", timeouts=TIMEOUTS,
    )
    try:
        completion = engine.stream(QUESTION, PARAMS, lambda _p: None)
    finally:
        engine.close()
    assert completion.complete and completion.text.strip()
    # The relay saw the decrypted request: it went over TLS to the server we trust.
    assert b"POST /v1/chat/completions" in tls_relay.received
    assert b"Name a colour." in tls_relay.received


def test_tls_server_is_refused_without_the_ca_bundle(tls_relay: LoggingRelay) -> None:
    engine = build_engine(endpoint(f"https://127.0.0.1:{tls_relay.port}/v1"), None,
                          timeouts=TIMEOUTS)
    try:
        with pytest.raises(RemoteTLSError) as caught:
            engine.stream(QUESTION, PARAMS, lambda _p: None)
    finally:
        engine.close()
    assert "certificate" in caught.value.message and "ca_bundle" in caught.value.hint
    assert b"Name a colour." not in tls_relay.received  # nothing readable got through


def test_an_unreadable_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(RemoteConfigError) as caught:
        build_engine(endpoint("https://127.0.0.1:9/v1", ca_bundle=str(tmp_path / "none.pem")),
                     None)
    assert "CA bundle" in caught.value.message


def test_a_model_the_endpoint_does_not_offer_is_refused() -> None:
    with pytest.raises(RemoteConfigError):
        build_engine(endpoint("http://127.0.0.1:9/v1"), None, model="gpt-unknown")


def test_real_server_behind_a_logging_relay_never_sees_the_originals(llama_server: int) -> None:
    relay = LoggingRelay(llama_server)
    redactor = Redactor(custom_terms=["operation nightjar"])
    outgoing, _ = redactor.redact_messages([ChatMessage("user", MESSAGE)])
    engine = build_engine(
        {"name": "onprem", "kind": "openai", "base_url": f"http://127.0.0.1:{relay.port}/v1",
         "classification": "internal", "models": ["smollm2"]},
        None, timeouts=RemoteTimeouts(connect=2, read=30))
    try:
        completion = engine.stream(outgoing, GenerationParams(max_tokens=8, temperature=0),
                                   lambda _p: None)
    finally:
        engine.close()
        relay.close()
    assert completion.complete
    received = bytes(relay.received).decode("utf-8", "replace")
    assert re.search(r"<EMAIL_1_[a-z0-9]{8}>", received)
    for original in ORIGINALS.values():
        assert original not in received


def test_cli_connector_test_reaches_an_allowed_endpoint(
    llama_server: int, make_policy, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli.connector import run_test

    policy = make_policy({"enabled": True, "allowed_users": ["*"],
                          "endpoints": [endpoint(f"http://127.0.0.1:{llama_server}/v1")]})
    assert run_test(policy, "onprem", "anyone", [], key="", timeouts=TIMEOUTS) == 0
    assert "onprem answered in" in capsys.readouterr().out

"""Each failure a remote endpoint can produce gives its typed error; partial text is kept."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from app.core.engines.base import ChatMessage, GenerationParams
from app.core.engines.remote import build_engine
from app.core.engines.remote_errors import (
    RemoteAuthError,
    RemoteDNSError,
    RemoteError,
    RemoteProtocolError,
    RemoteRateLimited,
    RemoteServerError,
    RemoteStreamCut,
    RemoteTimeout,
    RemoteUnreachable,
    classify,
)
from app.core.engines.remote_http import RemoteTimeouts
from tests.integration.connector.servers import (
    Behaviour,
    FaultServer,
    anthropic_events,
    hang,
    openai_chunk,
    status,
    streaming,
)

PROMPT = "my private question about project falcon"
KEY = "sk-secret-key-never-shown"
TIMEOUTS = RemoteTimeouts(connect=1, read=1.5, write=1, pool=1)


@pytest.fixture
def fault() -> Iterator[Callable[[Behaviour], FaultServer]]:
    servers: list[FaultServer] = []

    def start(behaviour: Behaviour) -> FaultServer:
        server = FaultServer(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def run(kind: str, port: int) -> tuple[object, list[str]]:
    base = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
    engine = build_engine(
        {"name": "acme-ai", "kind": kind, "base_url": base, "classification": "external",
         "models": ["m1"]},
        KEY, timeouts=TIMEOUTS,
    )
    pieces: list[str] = []
    try:
        return engine.stream([ChatMessage("user", PROMPT)], GenerationParams(max_tokens=50),
                             pieces.append), pieces
    finally:
        engine.close()


def expect(kind: str, port: int, error: type[RemoteError]) -> RemoteError:
    started = time.monotonic()
    with pytest.raises(error) as caught:
        run(kind, port)
    assert time.monotonic() - started < 8
    text = str(caught.value)
    assert PROMPT not in text and KEY not in text and "echo of secret" not in text
    assert "acme-ai" in text
    return caught.value


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_endpoint_down_is_connection_refused(kind: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = expect(kind, port, RemoteUnreachable)
    assert "refused the connection" in err.message


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("code", [401, 403])
def test_refused_key_says_ask_your_administrator(kind: str, code: int, fault) -> None:
    server = fault(status(code, "Nope"))
    err = expect(kind, server.port, RemoteAuthError)
    assert "the API key was refused; ask your administrator" in err.message
    assert KEY.encode() in server.requests[0]  # the key was sent, never shown


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_rate_limit_says_when_to_retry(kind: str, fault) -> None:
    server = fault(status(429, "Too Many Requests", {"retry-after": "30"}))
    err = expect(kind, server.port, RemoteRateLimited)
    assert isinstance(err, RemoteRateLimited) and err.retry_after_s == 30
    assert "try again in 30 seconds" in err.message
    assert len(server.requests) == 1  # no silent retries


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_server_error(kind: str, fault) -> None:
    server = fault(status(503, "Unavailable"))
    err = expect(kind, server.port, RemoteServerError)
    assert "HTTP 503" in err.message


def test_hanging_server_times_out(fault) -> None:
    server = fault(hang)
    err = expect("openai", server.port, RemoteTimeout)
    assert "did not answer" in err.message


STREAM_FAULTS = {
    "cut": (streaming([openai_chunk("Hello"), openai_chunk(" there")], then="cut"),
            RemoteStreamCut),
    "ended-early": (streaming([openai_chunk("Hello"), openai_chunk(" there")], then="end"),
                    RemoteStreamCut),
    "malformed": (streaming([openai_chunk("Hello"), openai_chunk(" there"),
                             b"data: {not json at all\n\n"], then="end"), RemoteProtocolError),
    "stalled": (streaming([openai_chunk("Hello"), openai_chunk(" there")], then="hang"),
                RemoteTimeout),
}


@pytest.mark.parametrize("case", list(STREAM_FAULTS))
def test_openai_failure_mid_answer_keeps_the_partial_text(case: str, fault) -> None:
    behaviour, error = STREAM_FAULTS[case]
    server = fault(behaviour)
    completion, pieces = run("openai", server.port)
    assert completion.finish_reason == "error"
    assert completion.text == "Hello there" == "".join(pieces)
    assert completion.error
    assert PROMPT not in completion.error and KEY not in completion.error
    # The message is the typed error's own message.
    assert error.__name__  # documents which class the case maps to
    assert "acme-ai" in completion.error


def test_anthropic_stream_cut_keeps_the_partial_text(fault) -> None:
    events = anthropic_events("one two three four")
    server = fault(streaming(events[:5], then="cut"))  # start, block start, ping, two deltas
    completion, _ = run("anthropic", server.port)
    assert completion.finish_reason == "error"
    assert completion.text == "one two "
    assert "before the answer was complete" in (completion.error or "")


def test_a_name_that_does_not_resolve_is_a_dns_error() -> None:
    from app.core.guard.egress import disable_egress_guard

    # The guard would refuse the name before the resolver sees it; this test is about the
    # resolver's answer. AI_NUMERICHOST: the lookup fails locally, no query leaves.
    disable_egress_guard()
    with pytest.raises(socket.gaierror) as caught:
        socket.getaddrinfo("no-such-host.invalid", 443, flags=socket.AI_NUMERICHOST)
    err = classify(caught.value, "acme-ai", "no-such-host.invalid", streaming=False)
    assert isinstance(err, RemoteDNSError)
    assert "does not resolve" in err.message

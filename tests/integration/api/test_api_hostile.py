"""Hostile and careless clients against the real local API: refused early, never holding
the engine, and the server still answering everyone else afterwards."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any

import openai
import pytest

from app.core.api import Limits
from tests.integration.api.conftest import MODEL, TEST_LIMITS, RunningApi

pytestmark = [pytest.mark.model, pytest.mark.keyring, pytest.mark.slow]


def call(api: RunningApi, method: str, path: str, body: Any = None, *,
         headers: dict[str, str] | None = None, token: str | None = None,
         ) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One request with http.client; returns status, headers and the JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    sent = {"Authorization": f"Bearer {token or api.tokens['main']}", **(headers or {})}
    data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw or b"{}")
    finally:
        conn.close()


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
            **extra}


def test_bodies_that_are_too_big_malformed_or_deep_never_reach_the_model(start_api) -> None:
    api: RunningApi = start_api()
    big = json.dumps(chat_body(messages=[{"role": "user", "content": "x" * 1_100_000}]))
    status, headers, body = call(api, "POST", "/v1/chat/completions", big.encode())
    assert (status, body["error"]["code"]) == (413, "request_too_large")
    assert headers.get("connection") == "close"

    # Declared small, sent big: counted while read (chunked, no length given).
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body=iter([b"{" + b" " * 700_000] * 2),
                 headers={"Authorization": f"Bearer {api.tokens['main']}"},
                 encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()

    status, _, body = call(api, "POST", "/v1/chat/completions", b'{"model": "x", messages')
    assert (status, body["error"]["code"]) == (400, "invalid_json")
    deep = b'{"model": "' + MODEL.encode() + b'", "messages": ' + b"[" * 10_000 + b"]" * 10_000 \
        + b"}"
    status, _, body = call(api, "POST", "/v1/chat/completions", deep)
    assert (status, body["error"]["code"]) == (400, "json_too_deep")
    for junk in (b"[]", b"\xff\xfe{}", b'{"model": NaN}', b""):
        status, _, body = call(api, "POST", "/v1/chat/completions", junk)
        assert status == 400 and body["error"]["type"] == "invalid_request_error", junk
    status, _, body = call(api, "POST", "/v1/chat/completions", chat_body(max_tokens="4"))
    assert (status, body["error"]["param"]) == (400, "max_tokens")
    assert api.audit_records("model.call") == []
    assert call(api, "GET", "/v1/models")[0] == 200


def test_only_requests_naming_this_server_and_not_from_a_web_page_are_answered(start_api):
    api: RunningApi = start_api()
    assert call(api, "GET", "/v1/models", headers={"Host": f"localhost:{api.port}"})[0] == 200
    for host in ("evil.example", f"evil.example:{api.port}", "127.0.0.1.nip.io", "10.0.0.8"):
        status, _, body = call(api, "GET", "/v1/models", headers={"Host": host})
        assert (status, body["error"]["code"]) == (421, "invalid_host"), host
    for header in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                   {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Mode": "cors"}):
        status, headers, body = call(api, "POST", "/v1/chat/completions", chat_body(),
                                     headers=header)
        assert (status, body["error"]["code"]) == (403, "cross_origin_refused"), header
        assert not any(h.lower().startswith("access-control") for h in headers)
    status, headers, _ = call(api, "OPTIONS", "/v1/chat/completions",
                              headers={"Access-Control-Request-Method": "POST"})
    assert status == 403 and not any(h.lower().startswith("access-control") for h in headers)
    assert call(api, "GET", "/v1/files")[0] == 404  # no file access, no model management
    assert call(api, "DELETE", "/v1/models")[0] == 405
    assert call(api, "GET", "/v1/files", token="enclave-wrong")[0] == 401


def _raw(port: int, data: bytes, wait: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_oversized_headers_and_slow_bodies_are_cut_off(start_api) -> None:
    api: RunningApi = start_api()
    huge = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 70_000 + b"\r\n\r\n"
    assert _raw(api.port, huge).startswith(b"HTTP/1.1 431")
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as s:
        for i in range(0, len(huge), 4096):  # the same, arriving in pieces: the parser stops it
            try:
                s.sendall(huge[i:i + 4096])
            except OSError:
                break
            time.sleep(0.001)
        assert s.recv(100).startswith(b"HTTP/1.1 4")

    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            f"{api.tokens['main']}\r\nContent-Type: application/json\r\nContent-Length: 200"
            "\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw(api.port, head + b'{"model": ')  # and then nothing more
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < TEST_LIMITS.body_timeout_s + 3
    assert call(api, "GET", "/v1/models")[0] == 200


def test_two_hundred_idle_connections_neither_block_others_nor_stay_open(start_api) -> None:
    api: RunningApi = start_api()
    idle = [socket.create_connection(("127.0.0.1", api.port), timeout=10) for _ in range(200)]
    try:
        idle[0].sendall(b"GET /v1/mod")  # and one that starts a request and stalls
        started = time.monotonic()
        assert [m.id for m in api.client().models.list()][0] == MODEL
        assert time.monotonic() - started < 2
        time.sleep(TEST_LIMITS.request_timeout_s + 1.0)
        closed = 0
        for s in idle:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
        assert closed == 200
    finally:
        for s in idle:
            s.close()
    assert api.client().models.list().data


def test_a_client_leaving_mid_stream_stops_its_generation_at_once(start_api) -> None:
    api: RunningApi = start_api()
    client = api.client()
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write a very long story."}],
        max_tokens=400, temperature=0.8, stream=True)
    next(iter(stream))
    next(iter(stream))
    stream.close()
    left = time.monotonic()
    deadline = left + 10
    while time.monotonic() < deadline:
        ended = [r for r in api.audit_records("model.call") if r["outcome"]["reason"] != "started"]
        if ended:
            break
        time.sleep(0.05)
    assert ended and ended[0]["outcome"]["reason"] == "cancelled"
    assert ended[0]["tokens_out"] < 200
    assert time.monotonic() - left < 3
    quick = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content":
                                           "Hi"}], max_tokens=3)
    assert quick.choices[0].message.content is not None


def _stream_and_time(api: RunningApi, index: int, firsts: dict[int, float],
                     errors: list[BaseException]) -> None:
    try:
        stream = api.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"Say the number {index}."}],
            max_tokens=6, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content and index not in firsts:
                firsts[index] = time.monotonic()
        firsts.setdefault(index, time.monotonic())
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_eight_streaming_clients_all_finish_in_the_order_they_came(start_api) -> None:
    api: RunningApi = start_api()
    firsts: dict[int, float] = {}
    errors: list[BaseException] = []
    threads = []
    queue = api.server.chat_lane.queue
    for i in range(8):
        t = threading.Thread(target=_stream_and_time, args=(api, i, firsts, errors))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 30
        while queue.accepted < i + 1 and time.monotonic() < deadline:
            time.sleep(0.005)  # arrived: the next client comes after it
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(firsts, key=firsts.__getitem__) == list(range(8))


def test_beyond_the_queue_a_client_is_told_when_to_retry(start_api) -> None:
    api: RunningApi = start_api(limits=Limits(max_waiting=1, request_timeout_s=5,
                                              body_timeout_s=5, send_timeout_s=5))
    client = api.client()
    long = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write a long story."}],
        max_tokens=300, stream=True)
    next(iter(long))  # it runs; the next one waits; a third has no room
    waiting = threading.Thread(target=lambda: client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2))
    waiting.start()
    deadline = time.monotonic() + 5
    while api.server.chat_lane.queue.waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(openai.RateLimitError) as full:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=2)
    assert int(full.value.response.headers["retry-after"]) >= 1
    assert full.value.body["code"] == "rate_limit_exceeded"
    long.close()
    waiting.join(60)
    assert not waiting.is_alive()

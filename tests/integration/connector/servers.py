"""Loopback servers for the connector tests: a TLS relay, a FAKE Anthropic server, faults.

Every server listens on 127.0.0.1 only, runs in threads that end when it is closed, and logs
the request bytes it received so tests can check what would have left the machine.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import selectors
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# --- a CA and a server certificate for 127.0.0.1 -----------------------------------------


@dataclass(frozen=True)
class LoopbackPKI:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_pki(directory: Path) -> LoopbackPKI:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Enclave Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = LoopbackPKI(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


# --- a TLS-terminating, logging relay ----------------------------------------------------


class LoopbackAcceptor:
    """A TCP server on 127.0.0.1 that hands each connection to ``_serve`` on its own thread.

    Bounded: accept polls a stop flag, and ``close`` joins every thread it started.
    """

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._workers: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name=name)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(conn,), name="loopback-conn")
            self._workers.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        self._server.close()
        for worker in self._workers:
            worker.join(5)


class LoggingRelay(LoopbackAcceptor):
    """Accepts (TLS or plain) connections on loopback and relays them to an upstream port.

    ``received`` holds every byte clients sent, decrypted: what the remote server saw.
    """

    def __init__(self, upstream_port: int, pki: LoopbackPKI | None = None) -> None:
        self.upstream_port = upstream_port
        self.received = bytearray()
        self._tls: ssl.SSLContext | None = None
        if pki is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(pki.cert_file, pki.key_file)
        self._lock = threading.Lock()
        super().__init__("relay-accept")

    def _serve(self, conn: socket.socket) -> None:
        client: socket.socket = conn
        try:
            conn.settimeout(5)
            if self._tls is not None:
                client = self._tls.wrap_socket(conn, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except (OSError, ssl.SSLError):
            conn.close()  # the client refused our certificate: that is the test's point
            return
        with client, upstream, selectors.DefaultSelector() as sel:
            client.setblocking(False)
            upstream.setblocking(False)
            sel.register(client, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, client)
            while not self._stop.is_set():
                pending = isinstance(client, ssl.SSLSocket) and client.pending() > 0
                ready = [(client, upstream)] if pending else [
                    (key.fileobj, key.data) for key, _ in sel.select(timeout=0.2)
                ]
                for source, sink in ready:
                    try:
                        data = source.recv(65536)  # type: ignore[union-attr]
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    except OSError:
                        return
                    if not data:
                        return
                    if source is client:
                        with self._lock:
                            self.received += data
                    sink.setblocking(True)
                    try:
                        sink.sendall(data)
                    except OSError:
                        return
                    finally:
                        sink.setblocking(False)


# --- a FAKE Anthropic Messages server ---------------------------------------------------


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def anthropic_events(text: str, *, input_tokens: int = 12) -> list[bytes]:
    """The documented Messages streaming sequence for an answer ``text``."""
    words = [w + " " for w in text.split(" ")]
    words[-1] = words[-1].rstrip(" ")
    events = [
        sse("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "content": [],
            "model": "fake-claude", "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}}),
        sse("ping", {"type": "ping"}),
    ]
    events += [
        sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                    "delta": {"type": "text_delta", "text": w}})
        for w in words
    ]
    events += [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta",
                              "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                              "usage": {"output_tokens": len(words)}}),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return events


class FakeAnthropicMessagesServer:
    """A FAKE of Anthropic's ``POST /v1/messages`` streaming API: echoes the last user turn.

    It checks the key (``x-api-key`` or a bearer token) against ``api_key`` (401 otherwise)
    and logs every request body.
    """

    def __init__(self, api_key: str = "test-anthropic-key") -> None:
        self.api_key = api_key
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                outer.bodies.append(body)
                # Older SDKs send x-api-key, newer ones a bearer token: accept either.
                keys = {self.headers.get("x-api-key"),
                        self.headers.get("authorization", "").removeprefix("Bearer ")}
                if self.path != "/v1/messages" or outer.api_key not in keys:
                    payload = json.dumps({"type": "error", "error": {
                        "type": "authentication_error", "message": "invalid x-api-key"}}).encode()
                    self.send_response(401)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for event in anthropic_events(f"You said: {last['content']}"):
                    self.wfile.write(event)
                    self.wfile.flush()
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,))
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


# --- a server that fails on purpose ----------------------------------------------------

Behaviour = Callable[[socket.socket, threading.Event], None]


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (headers and Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class FaultServer(LoopbackAcceptor):
    """Answers every connection with ``behaviour(conn, stop)``; logs the requests."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        super().__init__("fault-server")

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                self.requests.append(read_request(conn))
                self.behaviour(conn, self._stop)
            except OSError:
                pass


def status(code: int, reason: str, headers: dict[str, str] | None = None) -> Behaviour:
    body = json.dumps({"error": {"message": "echo of secret prompt text", "type": "x"}}).encode()

    def behave(conn: socket.socket, _stop: threading.Event) -> None:
        lines = [f"HTTP/1.1 {code} {reason}", "content-type: application/json",
                 f"content-length: {len(body)}", "connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return behave


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def openai_chunk(text: str, finish: str | None = None) -> bytes:
    return b"data: " + json.dumps({
        "id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }).encode() + b"\n\n"


def streaming(parts: list[bytes], *, then: str) -> Behaviour:
    """A 200 event stream (chunked) sending ``parts``, then ``cut``, ``hang`` or ``end``."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        for part in parts:
            conn.sendall(_chunk(part))
        if then == "hang":
            stop.wait(10)
        elif then == "end":
            conn.sendall(b"0\r\n\r\n")
        # "cut": return; the socket closes mid-body, without the final chunk

    return behave


def hang(conn: socket.socket, stop: threading.Event) -> None:
    """Read the request and never answer (until the server closes)."""
    stop.wait(10)

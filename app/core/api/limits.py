"""How much the API accepts and how long it waits: one place, so tests and docs agree.

A local client is still an untrusted one (any program the user runs, or one a browser was
tricked into): every size and wait is bounded, and the engine is taken only by a request
that has fully arrived, been authenticated and validated.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The API's bounds.

    Attributes:
        max_body_bytes: Largest request body; larger is refused with 413 (a declared length
            before anything is read).
        max_header_bytes: Largest request line and headers together; larger is refused by
            the HTTP parser with 400 and the connection closed.
        max_json_depth: Deepest nesting of arrays and objects in a body.
        max_messages: Most messages in one chat request.
        max_waiting: Requests that may wait for the engine; one more is refused with 429.
        max_connections: Open connections; beyond it the oldest idle one is closed.
        request_timeout_s: A connection must deliver a request's headers this soon after it
            opens (or after its previous response); otherwise it is closed.
        body_timeout_s: A request's body must arrive this soon after its headers (408).
        send_timeout_s: A client that reads nothing of the answer for this long is dropped,
            and its generation cancelled.
        keep_alive_s: An idle keep-alive connection is closed after this.
        max_embedding_inputs: Most texts in one embeddings request.
        max_stop: Most stop sequences.
    """

    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 16_384
    max_json_depth: int = 32
    max_messages: int = 256
    max_waiting: int = 16
    max_connections: int = 256
    request_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    send_timeout_s: float = 30.0
    keep_alive_s: int = 5
    max_embedding_inputs: int = 256
    max_stop: int = 4

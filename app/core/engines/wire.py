"""The engine process's protocol: length-prefixed JSON frames over a socketpair.

Every frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON: one
object whose ``t`` names the message. The child speaks first (``hello``, carrying
``PROTOCOL_VERSION``); the parent refuses a child of another version rather than guess. Frames
are bounded (``MAX_FRAME``) on both sides, so a confused or hostile peer cannot make the other
allocate without limit, and every decode error is a ``ProtocolError``, never a crash.

Messages (parent → child): ``load``, ``stream``, ``cancel``, ``tokenize``, ``prompt_tokens``,
``close``. (child → parent): ``hello``, ``progress``, ``loaded``, ``tok``, ``hb`` (heartbeat,
only while a request runs), ``done``, ``result``, ``error``.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import threading
import time
from typing import Any

PROTOCOL_VERSION = 1
MAX_FRAME = 32 * 1024 * 1024  # a whole conversation fits; a runaway length does not
_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


class PeerClosed(ProtocolError):
    """The other end closed the connection (for the parent: the engine process died)."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame for ``message``.

    Raises:
        ProtocolError: the message does not fit in a frame.
    """
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"a {len(body)}-byte message is over the {MAX_FRAME}-byte limit")
    return _HEADER.pack(len(body)) + body


class Channel:
    """Frames over one connected stream socket; ``send`` may be called from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self._send_lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        """Send one message.

        Raises:
            PeerClosed: the other end is gone.
        """
        frame = encode(message)
        with self._send_lock:
            try:
                self.sock.sendall(frame)
            except OSError as exc:  # EPIPE, ECONNRESET, EBADF after close
                raise PeerClosed(f"the other end closed the connection ({exc})") from exc

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, or ``None`` when ``timeout`` seconds pass without a whole one.

        Raises:
            PeerClosed: the other end closed the connection.
            ProtocolError: what arrived is not a valid frame.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            message = self._take()
            if message is not None:
                return message
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait is not None:
                ready, _, _ = select.select([self.sock], [], [], wait)
                if not ready:
                    return None
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError as exc:
                raise PeerClosed(f"the connection broke ({exc})") from exc
            if not chunk:
                raise PeerClosed("the other end closed the connection")
            self._buf += chunk

    def _take(self) -> dict[str, Any] | None:
        if len(self._buf) < _HEADER.size:
            return None
        (length,) = _HEADER.unpack_from(self._buf)
        if length > MAX_FRAME:
            raise ProtocolError(f"a frame of {length} bytes is over the {MAX_FRAME}-byte limit")
        end = _HEADER.size + length
        if len(self._buf) < end:
            return None
        body = bytes(self._buf[_HEADER.size : end])
        del self._buf[:end]
        try:
            message = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(f"a frame is not UTF-8 JSON ({exc})") from exc
        if not isinstance(message, dict) or not isinstance(message.get("t"), str):
            raise ProtocolError("a frame is not a message object with a type")
        return message

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with contextlib.suppress(OSError):
            self.sock.close()

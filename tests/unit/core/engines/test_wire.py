"""The engine protocol's frames: whatever arrives, the reader says ProtocolError, never crashes."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.engines import wire


@pytest.fixture
def pair() -> Iterator[tuple[wire.Channel, socket.socket]]:
    a, b = socket.socketpair()
    yield wire.Channel(a), b
    a.close()
    b.close()


def test_messages_round_trip_in_pieces(pair: tuple[wire.Channel, socket.socket]) -> None:
    channel, raw = pair
    frame = wire.encode({"t": "tok", "s": "héllo \u200b\U0001f600"})
    for i in range(len(frame)):  # byte by byte: a frame split anywhere still arrives whole
        raw.sendall(frame[i : i + 1])
        got = channel.recv(timeout=0.01)
        assert got is None if i < len(frame) - 1 else got == {"t": "tok", "s": "héllo \u200b😀"}


def test_timeout_returns_none(pair: tuple[wire.Channel, socket.socket]) -> None:
    channel, _ = pair
    assert channel.recv(timeout=0.01) is None


def test_closed_peer_is_peer_closed(pair: tuple[wire.Channel, socket.socket]) -> None:
    channel, raw = pair
    raw.close()
    with pytest.raises(wire.PeerClosed):
        channel.recv(timeout=1)
    with pytest.raises(wire.PeerClosed):
        channel.send({"t": "cancel"})


@pytest.mark.parametrize("body", [
    b"\xff\xfe not utf-8", b"[1, 2]", b'{"no": "type"}', b'{"t": 3}', b"not json",
    b'"just a string"', b"",
])
def test_bad_frames_are_protocol_errors(pair: tuple[wire.Channel, socket.socket],
                                        body: bytes) -> None:
    channel, raw = pair
    raw.sendall(struct.pack(">I", len(body)) + body)
    with pytest.raises(wire.ProtocolError):
        channel.recv(timeout=1)


def test_a_runaway_length_is_refused_before_reading_it(
        pair: tuple[wire.Channel, socket.socket]) -> None:
    channel, raw = pair
    raw.sendall(struct.pack(">I", 2**32 - 1))  # 4 GiB announced: never allocated
    with pytest.raises(wire.ProtocolError, match="over the"):
        channel.recv(timeout=1)


def test_sending_more_than_a_frame_holds_is_refused() -> None:
    with pytest.raises(wire.ProtocolError):
        wire.encode({"t": "x", "s": "a" * (wire.MAX_FRAME + 1)})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_never_crash_the_reader(data: bytes) -> None:
    a, b = socket.socketpair()
    try:
        channel = wire.Channel(a)
        b.sendall(data)
        b.close()
        while True:
            try:
                message = channel.recv(timeout=0.2)
            except wire.ProtocolError:
                break  # PeerClosed included: the bytes ran out
            assert message is None or isinstance(message.get("t"), str)
    finally:
        a.close()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4), max_leaves=10), max_size=5), st.text())
def test_any_message_round_trips(extra: dict[str, object], kind: str) -> None:
    a, b = socket.socketpair()
    try:
        message = {**extra, "t": kind}
        wire.Channel(b).send(message)
        assert wire.Channel(a).recv(timeout=1) == message
    finally:
        a.close()
        b.close()

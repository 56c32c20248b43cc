"""API keys: the OS keyring or an administrator's key file; the egress guard meets the engine."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli.connector import ConnectorCommandError, read_key, store_key
from app.core.engines.base import ChatMessage, GenerationParams
from app.core.engines.remote import build_engine
from app.core.engines.remote_errors import RemoteBlocked, RemoteConfigError
from app.core.engines.remote_http import RemoteTimeouts, load_api_key, read_key_file
from app.core.guard.egress import disable_egress_guard, install_egress_guard
from tests.integration.connector.conftest import PolicyFactory

KEY = "sk-file-key-0123456789"


def key_file(tmp_path: Path, mode: int, uid: int = 0) -> Path:
    path = tmp_path / "acme.key"
    path.write_text(KEY + "\n", encoding="utf-8")
    os.chown(path, uid, 0)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_a_root_owned_private_key_file_is_read(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode)
    assert read_key_file(path) == KEY
    endpoint = {"name": "acme", "api_key_file": str(path)}
    assert load_api_key(endpoint) == KEY


@pytest.mark.parametrize(("mode", "uid", "why"), [
    (0o644, 0, "readable by everyone"),
    (0o660, 0, "writable by others"),
    (0o600, 65534, "not owned by root"),
])
def test_an_unsafe_key_file_is_refused(tmp_path: Path, mode: int, uid: int, why: str) -> None:
    path = key_file(tmp_path, mode, uid)
    with pytest.raises(RemoteConfigError) as caught:
        read_key_file(path)
    assert why in caught.value.message
    assert KEY not in str(caught.value)


def test_set_key_reads_one_line_and_refuses_empty_input(make_policy: PolicyFactory) -> None:
    assert read_key(io.StringIO("  sk-abc  \nignored\n")) == "sk-abc"
    with pytest.raises(ConnectorCommandError):
        read_key(io.StringIO("\n"))
    policy = make_policy({"enabled": True, "endpoints": []})
    with pytest.raises(ConnectorCommandError) as caught:
        store_key(policy, "typo", "sk-abc")
    assert "no endpoint named 'typo'" in caught.value.message


@pytest.mark.keyring
def test_set_key_stores_the_key_in_the_os_keyring(make_policy: PolicyFactory) -> None:
    from app.core.secrets import delete_secret

    endpoint = {"name": "acme", "kind": "openai", "base_url": "https://api.acme.example/v1",
                "classification": "external", "models": ["m"]}
    policy = make_policy({"enabled": True, "endpoints": [endpoint]})
    store_key(policy, "acme", "sk-keyring-test")
    try:
        assert load_api_key(endpoint) == "sk-keyring-test"
    finally:
        delete_secret("connector-key:acme")
    assert load_api_key(endpoint) is None


@pytest.fixture
def guard_with_no_hosts() -> Iterator[list[tuple[str, int | None]]]:
    blocked: list[tuple[str, int | None]] = []
    install_egress_guard(set, lambda host, port: blocked.append((host, port)))
    yield blocked
    disable_egress_guard()


def test_the_egress_guard_stops_a_remote_engine_before_it_connects(
    guard_with_no_hosts: list[tuple[str, int | None]],
) -> None:
    # TEST-NET-3 and a 5 s connect limit: were the guard to fail, nothing could be reached,
    # and a refusal (immediate) stays far from a time-out even on a slow machine.
    engine = build_engine(
        {"name": "acme", "kind": "openai", "base_url": "https://203.0.113.1:9/v1",
         "classification": "external", "models": ["m"]},
        "sk-never-sent", timeouts=RemoteTimeouts(connect=5, read=5),
    )
    started = time.monotonic()
    try:
        with pytest.raises(RemoteBlocked) as caught:
            engine.stream([ChatMessage("user", "hi")], GenerationParams(), lambda _p: None)
    finally:
        engine.close()
    assert time.monotonic() - started < 3  # refused, not timed out
    assert "egress guard blocked" in caught.value.message
    assert guard_with_no_hosts and guard_with_no_hosts[0][0] == "203.0.113.1"

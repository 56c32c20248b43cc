"""Fixtures for the connector: real policies, a real llama.cpp server, a test PKI."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.policy import EffectivePolicy, load_policy
from tests.integration.connector.servers import LoopbackPKI, make_pki
from tests.policies import policy_root

PolicyFactory = Callable[..., EffectivePolicy]


@pytest.fixture
def make_policy(tmp_path: Path) -> PolicyFactory:
    """Write a managed policy file into a root-owned policy root and load it for real."""
    counter = iter(range(1000))

    def _make(connector: dict[str, Any], **sections: Any) -> EffectivePolicy:
        root = policy_root(tmp_path, {"connector": connector, **sections},
                           name=f"policies-{next(counter)}", file_name="10-connector.json")
        policy = load_policy(root)
        assert not policy.restricted, policy.restricted_reasons
        return policy

    return _make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(default_model_file: Path) -> Iterator[int]:
    """A real OpenAI-compatible server (llama-cpp-python's) on loopback; yields its port."""
    port = free_port()
    proc = subprocess.Popen(
        # The stock server (with llama.cpp's AMX path off on an AMX CPU: llama_server.py).
        [sys.executable, str(Path(__file__).with_name("llama_server.py")),
         "--model", str(default_model_file),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}")
            try:
                # http.client, not urllib: no proxy from the environment gets in the way.
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                try:
                    conn.request("GET", "/v1/models")
                    if conn.getresponse().status == 200:
                        break
                finally:
                    conn.close()
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not answer /v1/models within 60 s")
                time.sleep(0.25)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LoopbackPKI:
    return make_pki(tmp_path_factory.mktemp("pki"))

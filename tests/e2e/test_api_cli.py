"""`enclave api tokens` and `enclave serve`, run as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from app.core.errors import ExitCode
from tests.e2e.conftest import Runner, log_problems
from tests.policies import policy_root

pytestmark = [pytest.mark.keyring]

MACHINE_ROOT = Path("/etc/enclave/policies")
MODEL = "smollm2-135m-instruct-q4_1"


def test_a_token_is_printed_once_alone_on_the_last_line_and_kept_as_a_hash(
    enclave: Runner,
) -> None:
    made = enclave("api", "tokens", "create", "ci", "--scope", "chat,embeddings",
                   "--expires", "30d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[-1]
    assert token.startswith("enclave-") and len(token) == 51
    assert made.stdout.count(token) == 1

    listed = enclave("api", "tokens", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)["tokens"]
    assert (row["name"], row["state"], row["scopes"]) == ("ci", "active", ["chat", "embeddings"])
    assert token not in listed.stdout

    again = enclave("api", "tokens", "create", "ci")
    assert again.returncode == ExitCode.USAGE
    assert "revoke it first" in again.stderr.lower()
    revoked = enclave("api", "tokens", "revoke", "ci")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in enclave("api", "tokens", "list").stdout


@pytest.mark.parametrize(("args", "code", "words"), [
    (("--expires", "someday"), ExitCode.USAGE, "not a lifetime"),
    (("--expires", "never"), ExitCode.REFUSED, "at most 90 days"),
    (("--scope", "chat,admin"), ExitCode.USAGE, "unknown scope"),
    (("--route", "corp"), ExitCode.REFUSED, "may not use the route"),
])
def test_tokens_policy_or_sense_forbid_are_refused(enclave: Runner, args, code, words) -> None:
    refused = enclave("api", "tokens", "create", "t", *args)
    assert refused.returncode == code, refused.stderr
    assert words in refused.stderr.lower()
    assert refused.stdout == ""


def test_serve_refuses_while_policy_keeps_the_api_off(enclave: Runner) -> None:
    refused = enclave("serve", "--port", "0")
    assert refused.returncode == ExitCode.REFUSED
    assert "has not enabled the local API" in refused.stderr


# --- with the machine's own policy path (a private mount namespace, as test_policy_machine)

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare (the CI machine has both)",
)


@pytest.fixture
def mount_point() -> Iterator[Path]:
    created = [p for p in (MACHINE_ROOT.parent, MACHINE_ROOT) if not p.exists()]
    MACHINE_ROOT.mkdir(parents=True, exist_ok=True)
    yield MACHINE_ROOT
    for p in reversed(created):
        p.rmdir()


@needs_root
@pytest.mark.model
def test_serve_on_its_private_socket_answers_the_openai_client_and_stops_on_sigterm(
    tmp_path: Path, site_models_dir: Path, mount_point: Path, enclave: Runner,
) -> None:
    made = enclave("api", "tokens", "create", "app")
    token = made.stdout.splitlines()[-1]
    root = policy_root(tmp_path, {"api": {"enabled": True}})
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "ENCLAVE_HOME": str(tmp_path / "home"),
           "ENCLAVE_SITE_MODELS_DIR": str(site_models_dir), "XDG_RUNTIME_DIR": str(runtime)}
    script = f"mount --bind {root} {MACHINE_ROOT} && exec {sys.executable} -m app serve"
    with subprocess.Popen(["unshare", "-m", "sh", "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            _serve_and_stop(proc, runtime / "enclave" / "api.sock", token)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    audit = (tmp_path / "home" / "data" / "audit" / "audit.jsonl").read_text()
    events = [json.loads(line)["event"] for line in audit.splitlines()]
    assert events.count("api.started") == events.count("api.stopped") == 1
    assert "model.call" in events
    assert not log_problems(tmp_path / "home", [])


def _serve_and_stop(proc: subprocess.Popen[str], sock: Path, token: str) -> None:
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert line.strip() == f"Enclave API listening on unix:{sock}", proc.stderr.read()
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    with httpx2.Client(transport=httpx2.HTTPTransport(uds=str(sock))) as http:
        client = openai.OpenAI(base_url="http://localhost/v1", api_key=token,
                               max_retries=0, timeout=60, http_client=http)
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
        assert answer.choices[0].message.content is not None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert "Enclave API stopped." in proc.stderr.read()
    assert not sock.exists()

"""`enclave ask`, `doctor` and `models` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import ExitCode
from tests.e2e.conftest import Runner

pytestmark = pytest.mark.model


def test_ask_streams_an_answer(enclave: Runner) -> None:
    r = enclave("ask", "--no-save", "--max-tokens", "24", "What is the capital of France?")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert "Traceback" not in r.stderr
    assert "llama_model_loader" not in r.stderr, "llama.cpp's log must not reach the terminal"


def test_ask_json_reports_model_and_usage(enclave: Runner) -> None:
    r = enclave("ask", "--json", "--no-save", "--max-tokens", "16", "--seed", "1", "Say hello.")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["answer"].strip()
    assert data["model"]["id"] == "smollm2-135m-instruct-q4_1"
    assert data["model"]["sha256"] == (
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    )
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["time_to_first_token_s"] > 0 and usage["tokens_per_second"] > 0


def test_doctor_healthy_with_model(enclave: Runner) -> None:
    r = enclave("doctor", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["healthy"] is True
    names = {c["name"] for c in report["checks"]}
    assert {"versions", "gpu", "paths"} <= names


def test_doctor_fails_without_model(enclave: Runner) -> None:
    r = enclave("doctor", models=None)
    assert r.returncode != 0
    assert "not installed" in r.stdout and "provision" in r.stdout


def test_ask_without_model_says_how_to_provision(enclave: Runner) -> None:
    r = enclave("ask", "--no-save", "hello", models=None)
    assert r.returncode == ExitCode.MODEL
    assert "provision" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"just some text, renamed", "not a GGUF"),
        (b"GGUF" + b"\x03\0\0\0" + (2**60).to_bytes(8, "little") + b"\0" * 2000, "tensors"),
    ],
)
def test_ask_with_a_bad_model_file(
    enclave: Runner, tmp_path: Path, content: bytes, expected: str
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content + b"\0" * 2048)
    r = enclave("ask", "--no-save", "--model", str(bad), "hello")
    assert r.returncode == ExitCode.MODEL, r.stderr
    assert expected in r.stderr
    assert "Traceback" not in r.stderr


def test_ask_with_a_truncated_copy_of_the_real_model(
    enclave: Runner, tmp_path: Path, default_model_file: Path
) -> None:
    cut = tmp_path / "cut.gguf"
    with open(default_model_file, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(default_model_file.stat().st_size // 2))
    r = enclave("ask", "--no-save", "--model", str(cut), "hello")
    assert r.returncode == ExitCode.MODEL
    assert "truncated" in r.stderr


def test_models_list_and_info(enclave: Runner) -> None:
    r = enclave("models", "list", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    assert rows[0]["id"] == "smollm2-135m-instruct-q4_1" and rows[0]["location"] == "site"
    info = json.loads(enclave("models", "info", "smollm2-135m-instruct-q4_1", "--json").stdout)
    assert info["architecture"] == "llama" and info["context_length"] == 8192


def test_provision_from_a_local_file(enclave: Runner, default_model_file: Path) -> None:
    r = enclave("models", "provision", "--from", str(default_model_file), models=None)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).stat().st_size == default_model_file.stat().st_size


def test_provision_refuses_wrong_bytes(enclave: Runner, tmp_path: Path) -> None:
    fake = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 5000)
    r = enclave("models", "provision", "--from", str(fake), models=None)
    assert r.returncode == ExitCode.MODEL
    assert "sha256" in r.stderr


def test_chat_keeps_history_within_the_session(enclave: Runner) -> None:
    r = enclave(
        "chat", "--no-save", "--max-tokens", "12", "--temperature", "0",
        input="My name is Ada.\nWhat is my name?\n/quit\n",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("enclave ›") == 2


def test_native_library_overrides_are_ignored(enclave: Runner, tmp_path: Path) -> None:
    bogus = tmp_path / "libs"
    bogus.mkdir()
    (bogus / "libllama.so").write_bytes(b"not a library")
    r = enclave("ask", "--no-save", "--max-tokens", "4", "hi",
                extra_env={"LLAMA_CPP_LIB_PATH": str(bogus), "GGML_BACKEND_PATH": str(bogus)})
    assert r.returncode == 0, r.stderr


def test_version_flag(enclave: Runner) -> None:
    r = enclave("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("enclave 0.")


def test_cli_commands_run_behind_the_egress_guard(enclave: Runner, tmp_path: Path) -> None:
    # TEST-NET-3 address: the guard refuses it before a packet is sent; if the guard were
    # missing, the 1 s timeout bounds the attempt.
    code = ("import socket, sys; from app.cli import main; "
            "from app.core.guard.egress import egress_guard_active; "
            "main(['models', 'list']); print('guard', egress_guard_active()); "
            "s = socket.socket(); s.settimeout(1)\n"
            "try:\n    s.connect(('203.0.113.7', 443)); print('CONNECTED')\n"
            "except PermissionError as e:\n    print('BLOCKED', type(e).__name__)\n"
            "except OSError as e:\n    print('OTHER', e)\n")
    import json
    import os
    import subprocess
    import sys

    home = tmp_path / "guarded-home"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       check=False, env={**os.environ, "ENCLAVE_HOME": str(home)})
    assert "guard True" in r.stdout, r.stdout + r.stderr
    assert "BLOCKED EgressBlocked" in r.stdout, r.stdout + r.stderr
    log = home / "data" / "audit" / "audit.jsonl"
    blocked = [json.loads(x) for x in log.read_text().splitlines()
               if json.loads(x)["event"] == "egress.blocked"]
    assert blocked and blocked[-1]["detail"]["host"] == "203.0.113.7"

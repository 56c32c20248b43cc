"""`enclave ask` when the engine process crashes, as a user at a terminal sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import ExitCode
from tests.e2e.conftest import Runner

pytestmark = [pytest.mark.model, pytest.mark.slow]


# The crash is the point: the app logs it (that is what IT reads), nothing else.
@pytest.mark.log_allows(r"ERROR app\.(core\.engines\.|engine: engine process reached its)")
@pytest.mark.parametrize(("fault", "words"), [
    ("segv@4", "SIGSEGV"), ("abort@4", "SIGABRT"), ("oom@4", "ran out of memory"),
])
def test_ask_survives_an_engine_crash_and_the_next_ask_works(
    enclave: Runner, tmp_path: Path, fault: str, words: str,
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("engine crash passphrase\n")
    r = enclave("ask", "--passphrase-file", str(pw), "--max-tokens", "64", "--temperature", "0",
                "Write a long story about a lighthouse.",
                extra_env={"ENCLAVE_ENGINE_FAULT": fault})
    assert r.returncode == ExitCode.ENGINE, r.stderr
    assert "Traceback" not in r.stderr and "Fatal Python error" not in r.stderr
    assert words in r.stderr and "answer so far is kept" in r.stderr
    assert "safer settings" in r.stderr
    partial = r.stdout.strip()
    assert partial  # streamed before the crash, still on the terminal
    shown = enclave("history", "show", "1", "--passphrase-file", str(pw))
    assert shown.returncode == 0, shown.stderr
    assert partial[:20] in shown.stdout
    log = tmp_path / "home" / "data" / "audit" / "audit.jsonl"
    crashed = [json.loads(line) for line in log.read_text().splitlines()
               if '"engine.crashed"' in line]
    assert crashed and crashed[0]["model"]["sha256"].startswith("b179c952")
    assert crashed[0]["outcome"]["status"] == "error"
    again = enclave("ask", "--passphrase-file", str(pw), "--max-tokens", "8", "Say hello.")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip()
    doctor = enclave("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    fallback = [c for name, c in checks.items() if name.startswith("fallback ")]
    assert fallback and "after a crash in llama.cpp" in fallback[0]["detail"]
    assert "separate, supervised engine process" in checks["engine process"]["detail"]

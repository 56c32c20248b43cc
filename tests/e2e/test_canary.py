"""Nothing a user types or the model answers is written anywhere in plaintext.

Canary strings go in through the real `enclave ask` (the encrypted history, the audit log,
the application log, caches); afterwards every byte of every file under the user's data,
config, cache and log directories is read back: no canary may appear.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.e2e.conftest import Runner

pytestmark = pytest.mark.model


def test_no_plaintext_anywhere_after_ask(enclave: Runner, tmp_path: Path) -> None:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("canary test passphrase\n")
    canaries = [f"CANARY{secrets.token_hex(6).upper()}" for _ in range(3)]
    for i, canary in enumerate(canaries):
        args = ["ask", "--passphrase-file", str(passphrase), "--max-tokens", "24"]
        if i:
            args += ["--conversation", "1"]
        # Asking the model to repeat it makes the canary likely to be in the answer too.
        r = enclave(*args, f"Repeat this code exactly: {canary}. The code is {canary}.")
        assert r.returncode == 0, r.stderr
    home = tmp_path / "home"
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "history.db" for p in files)
    assert any(p.name == "audit.jsonl" for p in files)
    for path in files:
        data = path.read_bytes()
        for canary in canaries:
            assert canary.encode() not in data, f"{canary} found in plaintext in {path}"
            assert canary.encode("utf-16-le") not in data, f"{canary} (UTF-16) in {path}"

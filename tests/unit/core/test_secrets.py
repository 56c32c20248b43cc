"""The keyring backend is chosen by Enclave, never inherited from the environment.

A plaintext or null backend named by ``PYTHON_KEYRING_BACKEND`` or a keyringrc file must never
hold the history key; with no trusted keyring the history falls to the passphrase path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import secrets


def run_probe(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "from app.core import secrets\n"
        "try:\n"
        "    print(type(secrets.trusted_backend()).__module__)\n"
        "except secrets.KeyringUnavailable as exc:\n"
        "    print('UNAVAILABLE', exc.message)\n"
    )
    full = {**os.environ, **env, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=full, check=False)


@pytest.mark.parametrize("backend", [
    "keyring.backends.null.Keyring",
    "keyring.backends.fail.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
])
def test_environment_cannot_choose_the_backend(tmp_path: Path, backend: str) -> None:
    # A keyringrc naming the same backend, as a user could write one.
    cfg = tmp_path / "cfg" / "python_keyring"
    cfg.mkdir(parents=True)
    (cfg / "keyringrc.cfg").write_text(f"[backend]\ndefault-keyring={backend}\n")
    r = run_probe(tmp_path, {"PYTHON_KEYRING_BACKEND": backend})
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip()
    assert "null" not in out and "fail" not in out and "keyrings.alt" not in out
    assert out.startswith(("keyring.backends.SecretService", "UNAVAILABLE")), out


def test_no_dbus_means_unavailable_and_the_history_asks_for_a_passphrase(
    tmp_path: Path, app_paths: object
) -> None:
    r = run_probe(tmp_path, {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus",
                             "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert r.stdout.startswith("UNAVAILABLE"), r.stdout + r.stderr
    # And no plaintext keyring file appeared anywhere under HOME.
    assert not [p for p in tmp_path.rglob("*") if "keyring" in p.name and p.suffix != ".cfg"]


def test_secret_round_trip_uses_the_live_secret_service() -> None:
    secrets.reset_backend_cache()
    try:
        backend = secrets.trusted_backend()
    except secrets.KeyringUnavailable:
        if os.environ.get("CI"):
            pytest.fail("CI must exercise the real Secret Service (make test starts one)")
        pytest.skip("no live Secret Service (make test starts one)")
    assert type(backend).__module__ == "keyring.backends.SecretService"
    secrets.set_secret("enclave-test-secret", "value-1")
    try:
        assert secrets.get_secret("enclave-test-secret") == "value-1"
    finally:
        secrets.delete_secret("enclave-test-secret")
    assert secrets.get_secret("enclave-test-secret") is None

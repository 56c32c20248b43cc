"""`enclave models` against hostile input: tampered copies, changed imports, steered downloads.

- A copy of the default model with flipped weight bytes imports, but as *unverified*, outside
  the approved family, and `verify` never gives it a ✓.
- A model that changes after its import fails `verify`, which says what changed and what to do.
- In restricted mode `provision` downloads nothing, whatever PIP_INDEX_URL says, and the
  refused destination is in the audit log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.errors import ExitCode
from tests.e2e.conftest import Runner
from tests.policies import policy_root
from tests.unit.core.models._index_server import LoopbackIndex

pytestmark = pytest.mark.model

DEFAULT_ID = "smollm2-135m-instruct-q4_1"
DEFAULT_FAMILY = "smollm2-135m-instruct"
DATA_START = 1_785_664  # the default model's first tensor byte


def flipped_copy(source: Path, target: Path, offset: int) -> Path:
    data = bytearray(source.read_bytes())
    data[offset] ^= 0x01
    target.write_bytes(bytes(data))
    return target


def verify_lines(stdout: str) -> dict[str, str]:
    """`models verify` output: model id -> its line."""
    lines = {}
    for line in stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2:
            lines[parts[1].rstrip(":")] = line
    return lines


def test_a_flipped_copy_is_unverified_in_import_list_and_verify(
    enclave: Runner, tmp_path: Path, default_model_file: Path
) -> None:
    source = flipped_copy(default_model_file, tmp_path / "smollm2-flipped.gguf",
                          DATA_START + 4096)
    r = enclave("models", "import", str(source), "--json")
    assert r.returncode == 0, r.stderr
    imported = json.loads(r.stdout)
    assert imported["state"] == "unverified" and imported["verified"] is False
    assert imported["family"] != DEFAULT_FAMILY and "unverified" in imported["family"]

    rows = {row["id"]: row for row in json.loads(enclave("models", "list", "--json").stdout)}
    assert rows[DEFAULT_ID]["verified"] is True and rows[DEFAULT_ID]["family"] == DEFAULT_FAMILY
    mine = rows["smollm2-flipped"]
    assert (mine["state"], mine["verified"], mine["approved"]) == ("unverified", False, False)
    assert mine["family"] == imported["family"]
    text = enclave("models", "list").stdout
    [line] = [x for x in text.splitlines() if "smollm2-flipped" in x]
    assert "unverified" in line

    r = enclave("models", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = verify_lines(r.stdout)
    assert lines[DEFAULT_ID].startswith("✓")
    assert not lines["smollm2-flipped"].startswith("✓")
    assert "unverified" in lines["smollm2-flipped"]


def test_a_model_that_changes_after_import_fails_verify(
    enclave: Runner, tmp_path: Path, default_model_file: Path
) -> None:
    source = flipped_copy(default_model_file, tmp_path / "mine.gguf", DATA_START + 1)
    r = enclave("models", "import", str(source), "--json")
    assert r.returncode == 0, r.stderr
    recorded = json.loads(r.stdout)["sha256"]
    installed = tmp_path / "home" / "data" / "models" / "mine.gguf"
    flipped_copy(installed, installed, DATA_START + 2)
    now = json.loads(enclave("models", "list", "--json").stdout)
    [row] = [x for x in now if x["id"] == "mine"]
    assert row["state"] == "digest_mismatch"

    for args in (("models", "verify"), ("models", "verify", "mine")):
        r = enclave(*args)
        assert r.returncode == 1, r.stdout + r.stderr
        line = verify_lines(r.stdout)["mine"]
        assert line.startswith("✗") and "changed since it was imported" in line
        assert recorded in r.stdout and row["sha256"] in r.stdout
        assert "enclave models remove mine" in r.stdout  # what to do
    log = tmp_path / "home" / "data" / "audit" / "audit.jsonl"
    verified = [json.loads(x) for x in log.read_text().splitlines()
                if json.loads(x)["event"] == "model.verified"]
    assert any(rec["model"]["id"] == "mine" and rec["outcome"]["status"] == "error"
               for rec in verified)


# --- provisioning in restricted mode (the machine policy path needs root and unshare) ---

MACHINE_ROOT = Path("/etc/enclave/policies")


@pytest.fixture
def broken_machine_policy(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to put a policy at the machine path")
    created = [p for p in (MACHINE_ROOT.parent, MACHINE_ROOT) if not p.exists()]
    MACHINE_ROOT.mkdir(parents=True, exist_ok=True)
    yield policy_root(tmp_path, "{ this is not json")
    for p in reversed(created):
        p.rmdir()


def test_restricted_mode_downloads_nothing_and_audits_the_destination(
    tmp_path: Path, broken_machine_policy: Path
) -> None:
    with LoopbackIndex(lifetime_s=120) as decoy:
        env = {**os.environ, "ENCLAVE_HOME": str(tmp_path / "home"),
               "ENCLAVE_SITE_MODELS_DIR": str(tmp_path / "no-site"),
               "PIP_INDEX_URL": decoy.url, "HTTPS_PROXY": decoy.url.removesuffix("/simple")}
        cmd = f"exec {sys.executable} -m app models provision --model {DEFAULT_ID}"
        r = subprocess.run(
            ["unshare", "-m", "sh", "-c",
             f"mount --bind {broken_machine_policy} {MACHINE_ROOT} && {cmd}"],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )
        hits = list(decoy.hits)
    assert r.returncode == ExitCode.REFUSED, r.stderr
    assert "restricted mode" in r.stderr and "--from PATH" in r.stderr
    assert "Traceback" not in r.stderr
    assert hits == []
    models = tmp_path / "home" / "data" / "models"
    assert not models.exists() or list(models.iterdir()) == []
    log = tmp_path / "home" / "data" / "audit" / "audit.jsonl"
    records = [json.loads(x) for x in log.read_text().splitlines()]
    [download] = [x for x in records if x["event"] == "model.download"]
    assert download["detail"]["host"] == "pypi.org"
    assert download["outcome"]["status"] == "denied"
    assert not (MACHINE_ROOT / "managed").exists(), "the host's /etc was not touched"

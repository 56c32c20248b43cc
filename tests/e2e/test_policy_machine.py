"""Policy at the real machine path, as an administrator deploys it.

Each command runs in a private mount namespace (`unshare -m`) in which a temporary directory
is bind-mounted over /etc/enclave/policies, so the program reads the real path while the
test machine's own /etc is never changed (an empty mount point is created only if missing,
and removed afterwards).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.errors import ExitCode
from tests.policies import policy_root

MACHINE_ROOT = Path("/etc/enclave/policies")

pytestmark = pytest.mark.skipif(
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


def policy_dir(tmp_path: Path, managed: dict[str, Any] | str) -> Path:
    return policy_root(tmp_path, managed)


def run(tmp_path: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = " ".join(["exec", sys.executable, "-m", "app", *args])
    script = f"mount --bind {root} {MACHINE_ROOT} && {cmd}"
    env = {**os.environ, "ENCLAVE_HOME": str(tmp_path / "home")}
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


def test_managed_values_are_shown_with_their_file_and_cannot_be_changed(
    tmp_path: Path, mount_point: Path
) -> None:
    root = policy_dir(tmp_path, {"history": {"retention_days": 30, "export_allowed": False}})
    shown = run(tmp_path, root, "policy", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    text = json.dumps(report)
    assert "/etc/enclave/policies/managed/10-site.json" in text
    assert report["restricted"] is False
    refused = run(tmp_path, root, "settings", "set", "history.retention_days", "5")
    assert refused.returncode == ExitCode.SETTINGS
    assert "managed by your organization" in refused.stderr.lower()
    export = run(tmp_path, root, "history", "export", "1", "--format", "md")
    assert export.returncode == ExitCode.REFUSED
    assert "turned off by your organization" in export.stderr
    assert not (mount_point / "managed").exists(), "the host's /etc was not touched"


def test_a_broken_managed_file_fails_closed(tmp_path: Path, mount_point: Path) -> None:
    root = policy_dir(tmp_path, "{ this is not json")
    shown = run(tmp_path, root, "policy", "show")
    assert shown.returncode == 0, shown.stderr
    assert "restricted" in shown.stdout.lower()
    doctor = run(tmp_path, root, "doctor")
    assert doctor.returncode == 1
    assert "Restricted mode" in doctor.stdout

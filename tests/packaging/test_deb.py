"""The Debian package installs, runs from /usr/bin, and removes without leaving files behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Everywhere the package writes, and where it must not write (an active policy).
WATCHED = ("/opt/enclave", "/usr/bin", "/usr/share/applications", "/usr/share/icons/hicolor",
           "/usr/share/enclave", "/usr/share/doc/enclave", "/etc/enclave")

pytestmark = [
    pytest.mark.package,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(sys.platform != "linux" or shutil.which("dpkg") is None,
                       reason="Debian packages need dpkg"),
    pytest.mark.skipif(os.geteuid() != 0 if hasattr(os, "geteuid") else True,
                       reason="dpkg -i needs root"),
]


def _snapshot() -> set[str]:
    found: set[str] = set()
    for top in WATCHED:
        root = Path(top)
        if root.exists():
            found.add(top)
            found.update(str(p) for p in root.rglob("*"))
    return found


def _dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=600,
                          check=False)


def test_deb_installs_runs_and_removes_cleanly(frozen_dist: Path, site_models_dir: Path,
                                               tmp_path: Path) -> None:
    already = _dpkg("-s", "enclave")
    assert already.returncode != 0, "enclave is already installed here; `dpkg -r enclave` first"
    built = subprocess.run(
        [str(ROOT / "installer" / "linux" / "build_deb.sh"), str(frozen_dist), VERSION,
         str(tmp_path)],
        capture_output=True, text=True, timeout=1200, check=True,
    )
    deb = Path(built.stdout.strip().splitlines()[-1])
    assert deb.name.startswith(f"enclave_{VERSION}_") and deb.is_file()

    before = _snapshot()
    home = tmp_path / "user-home"
    installed = _dpkg("-i", str(deb))
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert Path("/usr/bin/enclave").resolve() == Path("/opt/enclave/enclave")
        assert Path("/usr/share/applications/enclave.desktop").is_file()
        assert Path("/usr/share/icons/hicolor/scalable/apps/enclave.svg").is_file()
        assert Path("/usr/share/enclave/models").is_dir()
        assert any(Path("/usr/share/doc/enclave/examples/policies/managed").glob("*.json"))
        assert not Path("/etc/enclave/policies").exists(), "the package must not activate policy"
        stat = Path("/opt/enclave/enclave").stat()
        assert stat.st_uid == 0 and not stat.st_mode & 0o022

        smoke = subprocess.run(
            [sys.executable, str(ROOT / "installer" / "smoke_test.py"), "/usr/bin/enclave",
             "--models", str(site_models_dir)],
            capture_output=True, text=True, timeout=900, check=False,
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        # Some user data, which removing the package must keep.
        used = subprocess.run(["/usr/bin/enclave", "doctor", "--json"], capture_output=True,
                              text=True, timeout=300, check=False,
                              env={**os.environ, "ENCLAVE_HOME": str(home),
                                   "ENCLAVE_SITE_MODELS_DIR": str(site_models_dir)})
        assert used.returncode == 0, used.stdout + used.stderr
    finally:
        removed = _dpkg("-r", "enclave")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert _snapshot() == before
    assert any(home.rglob("*")), "user data must survive removing the package"

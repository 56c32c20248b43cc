"""``enclave --help`` must stay fast: the CLI loads no inference, numeric or GUI library.

Each check runs in a fresh interpreter, because this test process has long since imported
whatever other tests needed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("llama_cpp", "numpy", "onnxruntime", "PySide6")

_REPORT = "import json, sys; print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"


def _heavy_loaded_after(code: str) -> list[str]:
    script = f"{code}\n{_REPORT.format(heavy=HEAVY)}"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("import app.cli", id="import"),
        pytest.param("import app.cli\napp.cli.build_parser()", id="build_parser"),
    ],
)
def test_cli_loads_no_heavy_library(code: str) -> None:
    assert _heavy_loaded_after(code) == []


def test_the_check_sees_a_heavy_library() -> None:
    # Guards the test itself: a report that can never name anything would always pass.
    assert _heavy_loaded_after("import numpy") == ["numpy"]

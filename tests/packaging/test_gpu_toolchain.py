"""`make package GPU=…` stops at once, naming what to install, when the toolkit is missing.

These use a made-up CUDA toolkit folder and a PATH without GPU tools, so they behave the same on
a machine with or without a real toolkit; they never compile anything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "installer" / "check_gpu_toolchain.sh"
BARE_PATH = "/usr/bin:/bin"


def _check(gpu: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": BARE_PATH, "HOME": os.environ.get("HOME", "/root"), **env}
    return subprocess.run(["bash", str(SCRIPT), gpu], env=full, capture_output=True, text=True,
                          timeout=30, check=False)


def _toolkit(root: Path, *, cublas: bool, stub: bool) -> Path:
    (root / "bin").mkdir(parents=True)
    nvcc = root / "bin" / "nvcc"
    nvcc.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 12.4, V12.4.99'\n")
    nvcc.chmod(0o755)
    (root / "include").mkdir()
    if cublas:
        (root / "include" / "cublas_v2.h").write_text("")
    if stub:
        (root / "lib64" / "stubs").mkdir(parents=True)
        (root / "lib64" / "stubs" / "libcuda.so").write_text("")
    return root


def test_a_complete_toolkit_lets_the_build_start(tmp_path: Path) -> None:
    root = _toolkit(tmp_path / "cuda", cublas=True, stub=True)
    r = _check("cuda", CUDA_HOME=str(root))
    assert r.returncode == 0, r.stderr
    assert "12.4" in r.stdout


@pytest.mark.parametrize(
    ("cublas", "stub", "expected"),
    [(False, True, "no cuBLAS"), (True, False, "libcuda.so")],
)
def test_an_incomplete_toolkit_is_named(
    tmp_path: Path, cublas: bool, stub: bool, expected: str
) -> None:
    if not stub and "libcuda.so" in subprocess.run(
        ["bash", "-c", "ldconfig -p 2>/dev/null"], capture_output=True, text=True, check=False
    ).stdout:
        pytest.skip("this machine has the NVIDIA driver library, which links as well")
    root = _toolkit(tmp_path / "cuda", cublas=cublas, stub=stub)
    r = _check("cuda", CUDA_HOME=str(root))
    assert r.returncode == 2
    assert expected in r.stderr and str(root) in r.stderr
    if not stub:
        assert "CUDA_NO_VMM=1" in r.stderr  # says how to build anyway


def test_without_the_driver_stub_a_no_vmm_build_may_start(tmp_path: Path) -> None:
    root = _toolkit(tmp_path / "cuda", cublas=True, stub=False)
    r = _check("cuda", CUDA_HOME=str(root), CUDA_NO_VMM="1")
    assert r.returncode == 0, r.stderr


def test_no_toolkit_at_all(tmp_path: Path) -> None:
    r = _check("cuda", CUDA_HOME=str(tmp_path / "nowhere"))
    assert r.returncode == 2
    assert "CUDA toolkit (nvcc) was not found" in r.stderr and "CUDA_HOME" in r.stderr


def test_vulkan_without_its_shader_compiler(tmp_path: Path) -> None:
    if (Path("/usr/bin/glslc")).exists():
        pytest.skip("glslc is installed here")
    r = _check("vulkan")
    assert r.returncode == 2 and "apt-get install glslc" in r.stderr


def test_an_unknown_gpu_is_refused_by_make() -> None:
    r = subprocess.run(["make", "-n", "package", "GPU=rocm"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode != 0
    assert "GPU=rocm is not supported" in r.stderr and "GPU=vulkan" in r.stderr

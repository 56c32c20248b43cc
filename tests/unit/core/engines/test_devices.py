"""`enclave doctor` names the backend models run on, from llama.cpp's own device registry."""

from __future__ import annotations

import pytest

from app.core import doctor as doctor_mod
from app.core.doctor import check_gpu
from app.core.engines import devices as devices_mod
from app.core.engines.devices import BackendDevice, active_backend, backend_devices
from app.core.paths import AppPaths


def _gpu(name: str = "CUDA0", backend: str = "CUDA") -> BackendDevice:
    return BackendDevice(name=name, description="NVIDIA H100", kind="gpu", backend=backend,
                         memory_total=80 * 1024**3, memory_free=79 * 1024**3)


def test_this_machine_lists_its_cpu_with_its_memory() -> None:
    found = backend_devices()
    cpus = [d for d in found if d.kind == "cpu"]
    assert cpus, found
    assert cpus[0].backend == "CPU" and not cpus[0].offloads
    assert cpus[0].memory_total > 0 and 0 < cpus[0].memory_free <= cpus[0].memory_total


@pytest.mark.parametrize(
    ("file_name", "backend"),
    [("libggml-cuda.so", "cuda"), ("ggml-vulkan.dll", "vulkan"), ("libggml-metal.dylib", "metal"),
     ("libggml-cann.so", "cann"),
     # CPU variants of a portable build are not GPU backends, whatever their names contain.
     ("libggml-cpu-cannonlake.so", None), ("libggml-cpu-haswell.so", None),
     ("libggml-base.so", None), ("libllama.so", None)],
)
def test_gpu_modules_are_told_from_cpu_variants(file_name: str, backend: str | None) -> None:
    assert devices_mod.gpu_module_backend(file_name) == backend


def test_the_first_gpu_wins_unless_policy_forbids_it() -> None:
    cpu = BackendDevice("CPU", "some CPU", "cpu", "CPU", 1, 1)
    assert active_backend([cpu]) == "CPU"
    assert active_backend([cpu, _gpu("Vulkan0", "Vulkan"), _gpu()]) == "Vulkan"
    assert active_backend([cpu, _gpu()], gpu_allowed=False) == "CPU"


def test_doctor_on_a_cpu_build_names_the_cpu_backend(app_paths: AppPaths) -> None:
    check = check_gpu(app_paths)
    assert check.status == "ok"
    assert check.data["backend"] == "CPU"
    assert "CPUExecutionProvider" in check.data["onnxruntime_providers"]
    assert any(d["kind"] == "cpu" for d in check.data["devices"])


def test_doctor_warns_when_a_gpu_build_finds_no_gpu(
    app_paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in: this machine has no GPU build. A CUDA package on a machine without the NVIDIA
    # driver ships libggml-cuda but registers no CUDA device.
    for module in (devices_mod, doctor_mod):  # doctor imports the names it uses
        monkeypatch.setattr(module, "gpu_backends_built", lambda: ["cuda"])
    check = check_gpu(app_paths)
    assert check.status == "warning"
    assert "CUDA build" in check.detail and "CPU" in check.detail
    assert "driver" in check.hint and "nvidia-smi" in check.hint


def test_doctor_names_the_gpu_it_runs_on(
    app_paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in for a GPU this machine does not have.
    cpu = BackendDevice("CPU", "some CPU", "cpu", "CPU", 1, 1)
    for module in (devices_mod, doctor_mod):  # doctor imports the names it uses
        monkeypatch.setattr(module, "backend_devices", lambda: [cpu, _gpu()])
    check = check_gpu(app_paths)
    assert check.data["backend"] == "CUDA"
    assert "CUDA0 (NVIDIA H100, 80.0 GiB)" in check.detail

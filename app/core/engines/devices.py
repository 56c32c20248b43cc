"""Which compute devices this llama.cpp build can use, and which backend Enclave runs on.

Asked of ggml's device registry rather than guessed from the build: a CUDA package started on a
machine without the NVIDIA driver registers no CUDA device (its backend module fails to load)
and runs on the CPU, and the report must say so.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import re
import sys
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

DeviceKind = Literal["cpu", "gpu", "igpu", "accel", "other"]
# enum ggml_backend_dev_type in ggml-backend.h; values after ACCEL are reported as "other".
_KINDS: dict[int, DeviceKind] = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}
_OFFLOAD_KINDS = ("gpu", "igpu")


@dataclass(frozen=True)
class BackendDevice:
    """One device llama.cpp registered (``CPU``, ``CUDA0``, ``Vulkan0``, ``MTL0``…)."""

    name: str
    description: str
    kind: DeviceKind
    backend: str  # the registry the device belongs to: CPU, CUDA, Vulkan, Metal…
    memory_total: int
    memory_free: int

    @property
    def offloads(self) -> bool:
        """Whether model layers can be placed on this device."""
        return self.kind in _OFFLOAD_KINDS


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""


@functools.cache
def _ggml() -> Any | None:
    """The loaded llama.cpp library with ggml's device functions typed, or None if absent."""
    from app.core.engines.backend import init_backend

    init_backend()  # registers the dynamically loaded backends first
    from llama_cpp import llama_cpp as C

    lib = getattr(C, "_lib", None)
    needed = ("ggml_backend_dev_count", "ggml_backend_dev_get", "ggml_backend_dev_name",
              "ggml_backend_dev_description", "ggml_backend_dev_memory",
              "ggml_backend_dev_type", "ggml_backend_dev_backend_reg", "ggml_backend_reg_name",
              "ggml_backend_reg_count", "ggml_backend_reg_get")
    if lib is None or not all(hasattr(lib, n) for n in needed):
        return None
    lib.ggml_backend_dev_count.restype = ctypes.c_size_t
    lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    lib.ggml_backend_dev_get.restype = ctypes.c_void_p
    for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description):
        fn.argtypes = [ctypes.c_void_p]
        fn.restype = ctypes.c_char_p
    lib.ggml_backend_dev_memory.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
    lib.ggml_backend_dev_memory.restype = None
    lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_dev_type.restype = ctypes.c_int
    lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
    lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_reg_name.restype = ctypes.c_char_p
    lib.ggml_backend_reg_count.restype = ctypes.c_size_t
    lib.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
    lib.ggml_backend_reg_get.restype = ctypes.c_void_p
    return lib


def _ggml_or_none() -> Any | None:
    """``_ggml()``, or None (logged) when llama.cpp cannot be loaded at all."""
    try:
        return _ggml()
    except Exception as exc:  # noqa: BLE001 - a broken llama.cpp build: report, never crash
        log.warning("cannot ask llama.cpp about its backends: %s", exc)
        return None


def backend_devices() -> list[BackendDevice]:
    """Every device llama.cpp registered, CPU included; empty if the build cannot tell."""
    lib = _ggml_or_none()
    if lib is None:
        return []
    devices = []
    for i in range(int(lib.ggml_backend_dev_count())):
        dev = lib.ggml_backend_dev_get(i)
        if not dev:
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        reg = lib.ggml_backend_dev_backend_reg(dev)
        devices.append(BackendDevice(
            name=_text(lib.ggml_backend_dev_name(dev)),
            description=_text(lib.ggml_backend_dev_description(dev)).strip(),
            kind=_KINDS.get(int(lib.ggml_backend_dev_type(dev)), "other"),
            backend=_text(lib.ggml_backend_reg_name(reg)) if reg else "",
            memory_total=int(total.value),
            memory_free=int(free.value),
        ))
    return devices


def active_backend(devices: list[BackendDevice], *, gpu_allowed: bool = True) -> str:
    """The backend models run on: the first offload device's backend, else ``CPU``."""
    if gpu_allowed:
        for dev in devices:
            if dev.offloads:
                return dev.backend or dev.name
    return "CPU"


# ggml's GPU backends by module name, with the name people know them by.
GPU_BACKEND_NAMES = {"cuda": "CUDA", "vulkan": "Vulkan", "metal": "Metal", "hip": "HIP",
                     "sycl": "SYCL", "opencl": "OpenCL", "musa": "MUSA", "cann": "CANN"}
_REGISTRY_ALIASES = {"rocm": "hip"}  # the HIP backend registers itself as "ROCm"
# libggml-cuda.so, ggml-vulkan.dll… but not libggml-cpu-cannonlake.so (a CPU variant).
_GPU_MODULE = re.compile(rf"^(?:lib)?ggml-({'|'.join(GPU_BACKEND_NAMES)})\.", re.IGNORECASE)


def gpu_module_backend(file_name: str) -> str | None:
    """``cuda`` for ``libggml-cuda.so``; None for anything else, CPU variants included."""
    m = _GPU_MODULE.match(file_name)
    return m.group(1).lower() if m else None


def gpu_backends_built() -> list[str]:
    """GPU backends this llama.cpp build carries (``cuda``, ``vulkan``…), usable or not.

    Two places say so: a registry a static build registered (even with no device behind it),
    and a backend module a GGML_BACKEND_DL build ships (one that failed to load — no driver —
    registers nothing). One present while no GPU device registered means the GPU build could
    not start its backend: worth a warning, unlike a CPU-only build.
    """
    from pathlib import Path

    from llama_cpp import llama_cpp as C

    found: set[str] = set()
    lib = _ggml_or_none()
    if lib is not None:
        for i in range(int(lib.ggml_backend_reg_count())):
            reg = lib.ggml_backend_reg_get(i)
            name = _text(lib.ggml_backend_reg_name(reg)).lower() if reg else ""
            name = _REGISTRY_ALIASES.get(name, name)
            if name in GPU_BACKEND_NAMES:
                found.add(name)
    for folder in {Path(C.__file__).parent / "lib", Path(sys.executable).parent}:
        try:
            found.update(b for p in folder.iterdir() if (b := gpu_module_backend(p.name)))
        except OSError:
            continue
    return sorted(found)


def onnx_providers() -> list[str]:
    """The execution providers onnxruntime offers for embeddings, best first."""
    try:
        import onnxruntime
    except Exception as exc:  # noqa: BLE001 - documents are optional; say why they are off
        log.warning("onnxruntime cannot be imported: %s", exc)
        return []
    return list(onnxruntime.get_available_providers())

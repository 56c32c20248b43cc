"""This machine as a report records it: the llama.cpp build, the CPU and its flags, memory.

``llama_build`` is cheap (package metadata, no import of llama.cpp): the gate asks it every
time a model's status is computed, to tell whether a report was made with another build.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

# The CPU features llama.cpp picks kernels by; a report names which this machine has.
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_int8", "amx_bf16", "neon", "sve")


def llama_build() -> str:
    """The llama.cpp build models run on: the llama-cpp-python release that bundles it."""
    try:
        return f"llama-cpp-python {metadata.version('llama-cpp-python')}"
    except metadata.PackageNotFoundError:
        return "llama-cpp-python (unknown version)"


def cpu() -> tuple[str, list[str]]:
    """The CPU's model name and the flags in :data:`CPU_FLAGS` it has."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                name = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
    except OSError:
        pass
    return name, [f for f in CPU_FLAGS if f in flags]


def describe() -> dict[str, Any]:
    """CPU, flags, cores, memory and OS, for the report."""
    import psutil

    name, flags = cpu()
    return {
        "cpu": name,
        "cpu_flags": flags,
        "logical_cpus": os.cpu_count() or 0,
        "physical_cores": psutil.cpu_count(logical=False) or 0,
        "memory_bytes": int(psutil.virtual_memory().total),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def engine_system_info() -> str:
    """llama.cpp's own description of what it uses here (loads llama.cpp: runner only)."""
    import llama_cpp

    return str(llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip())

"""What every benchmark prints about the machine it ran on: CPU model and vector flags."""

from __future__ import annotations

import os
import platform
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_vnni", "amx_int8", "amx_bf16")


def cpu() -> str:
    """The CPU model, its count and the flags that matter to the kernels (AMX included)."""
    model, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = [f for f in FLAGS if f in flags]
    return f"{model}, {os.cpu_count()} CPUs, flags: {' '.join(wanted) or 'no avx2/avx512/amx'}"

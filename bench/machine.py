"""What the benchmarks share: the machine they ran on (CPU and flags), and a stream meter."""

from __future__ import annotations

import os
import platform
import time
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


class Meter:
    """Timestamps of streamed pieces."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = 0.0
        self.last = 0.0
        self.count = 0

    def tick(self, *_: object) -> None:
        now = time.perf_counter()
        if self.count == 0:
            self.first = now
        self.last = now
        self.count += 1

    def rate(self, tokens: int) -> float:
        span = self.last - self.first
        return (tokens - 1) / span if tokens > 1 and span > 0 else 0.0

"""The performance figures of one evaluation run, from what the turns and the engine report.

Load time is the model load itself; time to first token and decoding speed are the medians
over every answer; prompt speed is read from the long-prompt item (prompt tokens over its
time to first token); peak memory is the engine process's high-water mark of resident memory
(``VmHWM``), read just before the engine is closed.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def peak_memory(pid: int | None) -> int | None:
    """The peak resident memory of a process in bytes (this one for ``None``), if known."""
    if pid is not None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        try:
            import psutil

            info = psutil.Process(pid).memory_info()
            return int(getattr(info, "peak_wset", 0) or info.rss)
        except Exception:  # noqa: BLE001 - the process may be gone; the figure is optional
            return None
    if sys.platform == "win32":
        import psutil

        info = psutil.Process(os.getpid()).memory_info()
        return int(getattr(info, "peak_wset", 0) or info.rss)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class Performance:
    """Figures gathered while a run goes; ``summary`` is what the report keeps."""

    load_s: float | None = None
    ttfts: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    prompt_rate: float | None = None
    peak_memory_bytes: int | None = None
    memory_total: int = 0
    context_length: int = 0
    context_length_trained: int = 0

    def add(self, ttft_s: float, tokens_per_s: float, completion_tokens: int) -> None:
        """One answer's timing (answers of fewer than two tokens have no decoding speed)."""
        if ttft_s > 0:
            self.ttfts.append(ttft_s)
        if completion_tokens > 1 and tokens_per_s > 0:
            self.rates.append(tokens_per_s)

    def metrics(self) -> dict[str, float]:
        """The figures a ``measure`` item is scored on."""
        out: dict[str, float] = {}
        if self.load_s is not None:
            out["load_s"] = self.load_s
        if self.peak_memory_bytes is not None:
            out["peak_memory_bytes"] = float(self.peak_memory_bytes)
            if self.memory_total:
                out["memory_fraction"] = self.peak_memory_bytes / self.memory_total
        return out

    def summary(self) -> dict[str, Any]:
        """The report's ``performance`` block."""
        return {
            "load_s": _round(self.load_s),
            "ttft_s_median": _round(statistics.median(self.ttfts) if self.ttfts else None),
            "tokens_per_s_median": _round(statistics.median(self.rates) if self.rates else None),
            "prompt_tokens_per_s": _round(self.prompt_rate),
            "peak_memory_bytes": self.peak_memory_bytes,
            "context_length": self.context_length,
            "context_length_trained": self.context_length_trained,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)

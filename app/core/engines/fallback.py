"""Safe settings after an engine crash, remembered per model, llama.cpp build and machine.

When llama.cpp crashes, Enclave retries with safer settings, one step at a time:

0. as configured;
1. no extra buffer types (no AMX or CPU weight repacking: the AMX Xeon crash, llama.cpp#20824);
2. no GPU offload (a driver or GPU kernel that crashes);
3. half the threads, pinned (a threading bug or a starved machine).

The step that worked is kept in ``engine-fallbacks.json`` under a key of the model's SHA-256,
the llama.cpp build and the CPU/GPU signature, so the next start uses it directly and a new
file, build or machine starts again from step 0. A model whose every step crashed is refused
with the reason until one of those changes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.core.engines.base import EngineOptions
from app.core.jsonstore import read_json_object, write_json_atomic

LAST_LEVEL = 3
_MAX_CRASHES_KEPT = 8
_lock = threading.Lock()


@dataclass(frozen=True)
class Fallback:
    """One step of the ladder: what it changes, in words."""

    level: int
    summary: str  # short, for the status bar

    def describe(self) -> str:
        """A sentence for doctor: what is off and why."""
        return f"{self.summary} for this model after a crash in llama.cpp"


LEVELS: tuple[Fallback, ...] = (
    Fallback(0, "normal settings"),
    Fallback(1, "AMX and CPU weight repacking disabled"),
    Fallback(2, "GPU offload disabled"),
    Fallback(3, "fewer threads"),
)


def options_for(level: int, options: EngineOptions, cores: int) -> EngineOptions:
    """``options`` made safer up to ``level`` (each step keeps the ones before it)."""
    if level >= 1:
        options = replace(options, extra_bufts=False)
    if level >= 2:
        options = replace(options, gpu_layers=0)
    if level >= 3:
        pinned = options.threads if options.threads > 0 else cores
        options = replace(options, threads=max(1, pinned // 2))
    return options


def next_level(level: int, gpu_in_use: bool) -> int:
    """The step after ``level``; the GPU step is skipped when nothing was offloaded."""
    step = level + 1
    if step == 2 and not gpu_in_use:
        step = 3
    return step


def fallback_key(sha256: str, signature: dict[str, str]) -> str:
    """The memory's key: these bytes, this llama.cpp build, this CPU and GPU."""
    return f"{sha256}|{signature.get('build_id', '?')}|{signature.get('hardware_id', '?')}"


@dataclass(frozen=True)
class Remembered:
    """What the memory holds for one key."""

    level: int = 0
    confirmed: bool = False  # a load at ``level`` ran a real prompt on this machine
    broken: bool = False  # every step crashed
    reason: str = ""  # the last crash, in words
    model_id: str = ""


class FallbackMemory:
    """The remembered steps, in a small JSON file (written atomically)."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def _read(self) -> dict[str, Any]:
        return read_json_object(self.file)

    def _write(self, entries: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # losing the memory costs a crash, not data
            write_json_atomic(self.file, entries, indent=1)

    def get(self, key: str) -> Remembered:
        """The remembered state (level 0, unconfirmed, when nothing is known)."""
        with _lock:
            entry = self._read().get(key)
        if not isinstance(entry, dict):
            return Remembered()
        level = entry.get("level")
        return Remembered(
            level=level if isinstance(level, int) and 0 <= level <= LAST_LEVEL else 0,
            confirmed=entry.get("confirmed") is True,
            broken=entry.get("broken") is True,
            reason=str(entry.get("reason") or ""),
            model_id=str(entry.get("model_id") or ""),
        )

    def confirm(self, key: str, level: int, model_id: str) -> None:
        """A load at ``level`` ran a real prompt: use it directly from now on."""
        self._update(key, model_id, level=level, confirmed=True, broken=False)

    def crashed(self, key: str, level: int, reason: str, model_id: str, *, gpu_in_use: bool
                ) -> Remembered:
        """Record a crash at ``level``; returns the state to use next (maybe ``broken``)."""
        step = next_level(level, gpu_in_use)
        broken = step > LAST_LEVEL
        self._update(key, model_id, level=min(step, LAST_LEVEL), confirmed=False,
                     broken=broken, reason=reason, crash={"at": time.time(), "level": level,
                                                          "reason": reason})
        return Remembered(min(step, LAST_LEVEL), False, broken, reason, model_id)

    def _update(self, key: str, model_id: str, *, crash: dict[str, Any] | None = None,
                **fields: Any) -> None:
        with _lock:
            entries = self._read()
            entry = entries.get(key) if isinstance(entries.get(key), dict) else {}
            assert isinstance(entry, dict)
            entry.update(fields, model_id=model_id)
            if crash is not None:
                crashes = [c for c in entry.get("crashes", []) if isinstance(c, dict)]
                entry["crashes"] = [*crashes, crash][-_MAX_CRASHES_KEPT:]
            entries[key] = entry
            self._write(entries)

    def report(self) -> list[dict[str, Any]]:
        """Every model with a non-default step or a crash, for ``enclave doctor``."""
        with _lock:
            entries = self._read()
        out = []
        for key, entry in entries.items():
            if not isinstance(entry, dict):
                continue
            level = entry.get("level", 0)
            if not entry.get("crashes") and not level:
                continue
            sha = key.split("|", 1)[0]
            words = ("every safe setting crashed; it will not be loaded again until the "
                     "file or llama.cpp changes" if entry.get("broken")
                     else LEVELS[level].describe() if isinstance(level, int)
                     and 0 < level <= LAST_LEVEL else "normal settings")
            out.append({"model": str(entry.get("model_id") or sha[:12]), "sha256": sha,
                        "level": level, "broken": bool(entry.get("broken")), "words": words,
                        "last_crash": str(entry.get("reason") or "")})
        return out

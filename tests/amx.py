"""AMX Xeons and llama.cpp's extra buffer types (llama.cpp#20824).

On a CPU with ``amx_int8``, llama.cpp repacks Q4/Q8 weights into its AMX buffer type and the
first batched decode segfaults in ``ggml_backend_amx_mul_mat``. The app survives that in its
engine process (``tests/integration/test_engine_process.py`` injects the crash on
every machine). Tests that load llama.cpp *in the pytest process* — the in-process engine's
own tests, the llama.cpp server the connector tests talk to — turn the extra buffer types off
on such a CPU, so a whole ``make test`` is not taken down by the upstream bug.
"""

from __future__ import annotations

from pathlib import Path


def cpu_has_amx() -> bool:
    """Whether this CPU advertises AMX int8 (where llama.cpp's AMX path crashes)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("flags") and "amx_int8" in line.split()
               for line in text.splitlines())

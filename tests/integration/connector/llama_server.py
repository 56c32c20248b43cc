"""``python -m llama_cpp.server``, with llama.cpp's extra buffer types off on an AMX CPU.

The connector tests need a real OpenAI-compatible server; on an AMX Xeon the stock server
segfaults on its first completion (llama.cpp#20824, see ``tests/amx.py``). Everything else is
the stock server with the stock command line.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.amx import cpu_has_amx  # noqa: E402 - after the path is set

if cpu_has_amx():
    import llama_cpp.llama_cpp as low_level  # what llama_cpp.llama calls

    _default = low_level.llama_model_default_params

    def _without_extra_bufts() -> low_level.llama_model_params:
        params = _default()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = _without_extra_bufts

runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)

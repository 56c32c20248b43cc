"""``python -m llama_cpp.server``, with llama.cpp's extra buffer types off on an AMX CPU.

The connector tests need a real OpenAI-compatible server; on an AMX Xeon the stock server
segfaults on its first completion (llama.cpp#20824, see ``app/core/engines/cpu_kernels.py``).
Everything else is the stock server with the stock command line.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from app.core.engines.cpu_kernels import stock_llama_follows_cpu  # noqa: E402 - path set

stock_llama_follows_cpu()
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)

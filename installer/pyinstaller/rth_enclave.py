"""PyInstaller runtime hook: runs inside the frozen program before any application code.

The frozen program must load the llama.cpp libraries it was built with, never ones named by
the caller's environment: these variables would make llama-cpp-python (``LLAMA_CPP_LIB_PATH``)
or ggml (``GGML_BACKEND_PATH``) dlopen a file of the caller's choosing. ``app.core.runtime``
clears them too, but only on the GUI and CLI paths; clearing them here also covers the hidden
``__gguf-probe`` child and anything imported before ``harden_process`` runs.
"""

from __future__ import annotations

import os

for _name in ("LLAMA_CPP_LIB_PATH", "LLAMA_CPP_LIB", "GGML_BACKEND_PATH"):
    os.environ.pop(_name, None)

"""llama.cpp's process-wide start: its log, its backends, and what the build can do.

Kept apart from the engine so ``devices`` and the doctor can ask about the backend without
importing the engine (and without an import cycle).
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import llama_cpp as C

from app.core.logs import route_llama_log

_backend_lock = threading.Lock()
_backend_ready = False


def init_backend() -> None:
    """Route llama.cpp's log, register its backends and initialise it (once a process)."""
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            route_llama_log()
            _load_dynamic_backends()
            C.llama_backend_init()
            _backend_ready = True


def _load_dynamic_backends() -> None:
    """Register the CPU/GPU backends of a GGML_BACKEND_DL build (the portable packages).

    Such a build looks for its backends only beside the executable and in the current
    directory; installed in a virtual environment they sit in ``llama_cpp/lib``.
    """
    lib = getattr(C.llama_cpp, "_lib", None)
    if lib is None or not hasattr(lib, "ggml_backend_reg_count"):
        return
    lib.ggml_backend_reg_count.restype = ctypes.c_size_t
    if lib.ggml_backend_reg_count() == 0 and hasattr(lib, "ggml_backend_load_all_from_path"):
        lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        lib.ggml_backend_load_all_from_path(os.fsencode(Path(C.__file__).parent / "lib"))


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can offload layers to a GPU."""
    init_backend()
    return bool(C.llama_supports_gpu_offload())

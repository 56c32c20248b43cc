"""Application logging: one rotating file per user, never conversation text.

llama.cpp's own log is routed here too, so it never reaches the user's terminal.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
from pathlib import Path
from typing import Any

_configured = False
_llama_callback: Any = None  # kept alive: llama.cpp holds a raw pointer to it


def configure_logging(log_file: Path, *, level: int = logging.INFO) -> None:
    """Send the app's log records to ``log_file`` (idempotent)."""
    global _configured
    if _configured:
        return
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    _configured = True


def route_llama_log() -> None:
    """Replace llama-cpp-python's stderr printer with a callback into ``logging``."""
    global _llama_callback
    if _llama_callback is not None:
        return
    import llama_cpp

    logger = logging.getLogger("llama.cpp")
    # llama.cpp logs its model dump at WARN level; without this, Python's last-resort handler
    # would print it on the user's terminal whenever file logging is not configured.
    logger.addHandler(logging.NullHandler())
    levels = {0: logging.CRITICAL, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR,
              4: logging.DEBUG, 5: logging.DEBUG}

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def _callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        # DEBUG and CONT lines are per-tensor noise; keep the log file useful.
        if level in (4, 5):
            return
        with contextlib.suppress(Exception):  # never raise into C
            logger.log(levels.get(level, logging.INFO), text.decode("utf-8", "replace").rstrip())

    _llama_callback = _callback
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))

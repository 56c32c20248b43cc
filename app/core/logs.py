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
    levels = LlamaLogLevels(logger)

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def _callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        with contextlib.suppress(Exception):  # never raise into C
            py_level = levels.accept(level)
            if py_level is not None:
                logger.log(py_level, text.decode("utf-8", "replace").rstrip())

    _llama_callback = _callback
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


class LlamaLogLevels:
    """ggml's log levels as ``logging``'s, and which lines the log file keeps.

    ggml: 1 debug, 2 info, 3 warn, 4 error, 5 "continues the previous line". Warnings and
    errors are kept; info and debug lines (a model dump per load, megabytes an hour) only when
    the ``llama.cpp`` logger is set to DEBUG.
    """

    _MAP = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._last = logging.INFO

    def accept(self, level: int) -> int | None:
        """The ``logging`` level for a ggml line, or ``None`` to drop it."""
        if level != 5:  # a continuation keeps the level of the line it continues
            self._last = self._MAP.get(level, logging.INFO)
        keep = self._last >= logging.WARNING or self.logger.isEnabledFor(logging.DEBUG)
        return self._last if keep else None

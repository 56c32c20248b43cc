"""Process-wide hardening done once at start-up, before any native library loads."""

from __future__ import annotations

import os
import sys

from app.core.errors import ConfigurationError

# Environment variables that would make llama-cpp-python load a native library of the
# caller's choosing instead of the one installed with the app.
_NATIVE_LIBRARY_OVERRIDES = ("LLAMA_CPP_LIB_PATH", "LLAMA_CPP_LIB", "GGML_BACKEND_PATH")

_done = False


def app_command(*args: str) -> list[str]:
    """The command line that runs this program again with ``args``, never found on PATH.

    The frozen binary is the program itself; from source it is this interpreter with ``-m
    app``. Child processes (the engine, the model probes, the embedding copy) start this way.
    """
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "app", *args]


def check_jinja_version() -> None:
    """Refuse to run with a Jinja2 whose sandbox is known to be escapable.

    Raises:
        ConfigurationError: if Jinja2 is older than 3.1.6.
    """
    from importlib.metadata import version

    raw = version("jinja2")
    parts = tuple(int(p) for p in raw.split(".")[:3] if p.isdigit())
    if parts < (3, 1, 6):
        raise ConfigurationError(
            f"Jinja2 {raw} has known sandbox escapes; chat templates cannot render safely.",
            "Reinstall Enclave, or run: pip install 'jinja2>=3.1.6'",
        )


def harden_process() -> None:
    """Clear native-library overrides and check security-relevant dependencies. Idempotent."""
    global _done
    if _done:
        return
    for name in _NATIVE_LIBRARY_OVERRIDES:
        os.environ.pop(name, None)
    check_jinja_version()
    _done = True

"""Entry point of the frozen ``enclave`` program (PyInstaller runs this file).

The same dispatch as ``python -m app``: no arguments opens the GUI, ``__gguf-probe`` is the
hidden child-process mode used by ``app.core.models.inspect``, anything else is the CLI.
"""

from __future__ import annotations

import sys

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())

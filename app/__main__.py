"""``python -m app``: no arguments opens the GUI; anything else is the CLI."""

from __future__ import annotations

import sys


def main() -> int:
    """Dispatch to the GUI or the CLI."""
    if len(sys.argv) > 1 and sys.argv[1] == "__gguf-probe":
        # A hostile-file probe: imports nothing but the reader (see app.core.models.inspect).
        from app.core.models.gguf_reader import _main as probe

        return probe(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "__load-probe":
        # A crash-proof first load: llama.cpp dies here, not in the app (models.load_probe).
        from app.core.models.load_probe import _main as load_probe

        return load_probe(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "__embed-optimize":
        # The embedding model's faster copy is made here: onnx holds the GIL and can crash.
        from app.core.docs.embed_optimize import _main as embed_optimize

        return embed_optimize(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "__engine":
        # The supervised engine process: llama.cpp runs here, never in the app.
        from app.core.runtime import harden_process

        harden_process()
        from app.core.engines.engine_child import main as engine_main

        return engine_main(sys.argv[2:])
    if len(sys.argv) <= 1:
        from app.core.runtime import harden_process

        harden_process()
        from app.ui.main import run_gui

        return run_gui()
    from app.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

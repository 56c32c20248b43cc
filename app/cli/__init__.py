"""The ``enclave`` command.

Each module in this package that defines ``register(subparsers)`` adds one sub-command group;
they are discovered, so a new group is a new module and nothing else. Handlers return an exit
code; typed ``EnclaveError``s become a two-line message and their ``exit_code``.

Every invocation imports every sub-command module to build the parser, so those modules import
the core inside their handlers: ``enclave --help`` stays fast and loads neither llama.cpp, numpy,
onnxruntime nor Qt (``tests/unit/test_import_cost.py`` holds it to that).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from app import __version__
from app.core.errors import EnclaveError, ExitCode


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every sub-command module."""
    parser = argparse.ArgumentParser(
        prog="enclave",
        description="Enclave: a private AI assistant whose data stays on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"enclave {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    from app.core.runtime import harden_process

    harden_process()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        # Every command runs behind the egress guard (open_app narrows it further).
        from app.core.context import guard_process_network
        from app.core.paths import default_paths

        guard_process_network(default_paths())
        return int(handler(args) or 0)
    except EnclaveError as exc:
        print(f"enclave: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  → {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("\nenclave: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception:  # noqa: BLE001 - a user never sees a traceback
        import logging

        logging.getLogger("enclave.cli").exception("unexpected error in %s", args.command)
        from app.core.paths import default_paths

        print(
            "enclave: an unexpected error stopped this command; nothing was lost.\n"
            f"  → Details are in {default_paths().log_file}; please report them to IT.",
            file=sys.stderr,
        )
        return ExitCode.UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())

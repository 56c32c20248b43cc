"""Open the app's services for a CLI command, prompting for a passphrase if needed."""

from __future__ import annotations

import argparse

from app.core.context import AppContext, open_app


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    """``--no-save`` and ``--passphrase-file`` for commands that talk to the model."""
    from app.cli.store import add_passphrase_option

    parser.add_argument("--no-save", action="store_true", help="do not keep this in history")
    add_passphrase_option(parser)


def open_for_cli(args: argparse.Namespace, *, engine: bool = False) -> AppContext:
    """open_app with the CLI's passphrase sources: --passphrase-file, then the terminal.

    ``engine``: the command will load a local model, so start the engine process now.
    """
    from app.cli.store import _prompt, given_passphrase

    def ask(first_run: bool) -> str:
        label = "Choose a passphrase for the history: " if first_run else "History passphrase: "
        return _prompt(label, confirm=first_run)

    return open_app(
        save=not args.no_save, passphrase=given_passphrase(args), ask_passphrase=ask,
        prestart_engine=engine,
    )

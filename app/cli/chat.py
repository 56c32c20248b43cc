"""``enclave chat``: an interactive terminal chat.

Ctrl+C while an answer streams stops that answer (kept, marked incomplete); Ctrl+C or Ctrl+D
at the prompt quits.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from app.cli._app import add_store_flags
from app.cli._common import row_id_arg
from app.cli.ask import AnswerPrinter, add_generation_flags, generation_overrides
from app.core.errors import EnclaveError
from app.core.reasoning import without_reasoning


def register(sub: Any) -> None:
    """Add the ``chat`` command."""
    p = sub.add_parser("chat", help="interactive chat in the terminal")
    p.add_argument("--model", help="model id, file name or path")
    p.add_argument("--conversation", type=row_id_arg, help="continue this conversation (id)")
    add_store_flags(p)
    add_generation_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Loop: read a line, stream the answer."""
    from app.cli._app import open_for_cli

    overrides = generation_overrides(args)  # refused before the model loads
    app = open_for_cli(args, engine=True)
    try:
        info = app.chat.load_model(args.model)
        params = replace(app.chat.params, **overrides)  # checked by the core above
        print(f"Enclave chat — {info.model_id} on {info.device}, everything stays on this machine.")
        print("Ctrl+C stops an answer; Ctrl+D or /quit leaves.\n")
        conversation = args.conversation
        # Invalid UTF-8 typed or piped in arrives as escaped bytes, repaired by the core,
        # instead of a decode error that ends the chat.
        reconfigure = getattr(sys.stdin, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
        while True:
            try:
                line = input("you › ")
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                return 0
            cancel = threading.Event()
            previous = signal.signal(signal.SIGINT, lambda *_, ev=cancel: ev.set())
            sys.stdout.write("enclave › ")
            sys.stdout.flush()
            printer = AnswerPrinter(args.show_thinking)
            try:
                result = app.chat.send(
                    text, conversation_id=conversation, on_token=printer, cancel=cancel,
                    params=params,
                )
                printer.finish()
                conversation = result.conversation_id
                sys.stdout.write("\n")
                if result.sources is not None:  # the conversation answers from documents
                    from app.cli.docs import print_sources

                    print_sources(result.sources, without_reasoning(result.completion.text))
                for note in result.notes:
                    print(f"[{note}]")
                if result.completion.finish_reason == "cancelled":
                    print("[stopped — the partial answer is kept]")
            except EnclaveError as exc:
                printer.finish()
                print(f"\n[error] {exc}")
                # A turn the engine failed is saved with its answer so far: stay in it.
                conversation = getattr(exc, "conversation_id", None) or conversation
            finally:
                signal.signal(signal.SIGINT, previous)
            print()
    finally:
        app.close()

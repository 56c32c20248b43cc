"""``enclave serve``: the local OpenAI-compatible API, until Ctrl+C (or SIGTERM).

Policy decides whether it may run (``api.enabled``) and where: by default a Unix socket only
you can open, ``--port`` for 127.0.0.1, ``--host`` for an address managed policy lists (TLS
only). The first line of output is the address, once it answers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from app.cli._common import bounded_int


def register(sub: Any) -> None:
    """Add the ``serve`` command."""
    from app.cli.store import add_passphrase_option

    p = sub.add_parser(
        "serve", help="run the local OpenAI-compatible API (if policy allows it)",
        description="Serve /v1/chat/completions, /v1/embeddings and /v1/models to programs "
        "holding a token from `enclave api tokens create`. Every request is a turn like "
        "`enclave ask`: the same policy, routing, redaction and audit.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", type=bounded_int(0, 65535),
                       help="listen on 127.0.0.1:PORT (0: any free port) instead of the socket")
    where.add_argument("--socket", type=Path, metavar="PATH",
                       help="listen on this Unix socket (default: enclave/api.sock in your "
                       "runtime directory)")
    p.add_argument("--host", metavar="ADDRESS",
                   help="listen on this address instead of 127.0.0.1 (only one managed policy "
                   "lists in api.remote_bind_addresses; TLS with the site certificate)")
    p.add_argument("--model", help="model to load before listening (default: the default)")
    add_passphrase_option(p)
    p.set_defaults(handler=run, no_save=False)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from app.cli._app import open_for_cli
    from app.core.api import ApiServer, plan_binding
    from app.core.errors import EnclaveError
    from app.core.policy import load_policy

    # Refused before the history is opened or a model loaded: policy says where, or no.
    binding = plan_binding(load_policy(), port=args.port, socket_path=args.socket,
                           host=args.host)
    app = open_for_cli(args, engine=True)
    try:
        server = ApiServer(app, binding)
        try:
            server.turns.chat.load_model(args.model)
        except EnclaveError as exc:  # embeddings may still serve; chat requests say why
            print(f"enclave: the model was not loaded: {exc.message}", file=sys.stderr)
        try:
            address = server.start()
            print(f"Enclave API listening on {address}", flush=True)
            print("Tokens: enclave api tokens create NAME. Stop with Ctrl+C.", file=sys.stderr)
            _wait_for_signal(server)
        finally:
            server.stop()
    finally:
        app.close()
    print("Enclave API stopped.", file=sys.stderr)
    return 0


def _wait_for_signal(server: Any) -> None:
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if not server.running:
                raise _server_died()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _server_died() -> Exception:
    from app.core.api import ApiConfigError

    return ApiConfigError("The API server stopped unexpectedly.", "Details are in Enclave's log.")

"""``enclave ask``: one question, the answer streamed to stdout."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from app.cli._app import add_store_flags
from app.cli._common import print_json, row_id_arg


def register(sub: Any) -> None:
    """Add the ``ask`` command."""
    p = sub.add_parser("ask", help="ask one question and stream the answer")
    p.add_argument("question", nargs="+", help="the question (quote it, or pass several words)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--model", help="model id, file name or path (default: the default model)")
    p.add_argument("--conversation", type=row_id_arg, help="continue this conversation (id)")
    p.add_argument("--route", help="'local' (default) or an endpoint your policy allows "
                   "(see `enclave connector routes`)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--collection", action="append", metavar="NAME",
                       help="answer from this document collection (repeatable; sources are "
                       "cited); the conversation keeps answering from these")
    scope.add_argument("--no-collections", action="store_true",
                       help="answer without documents, and stop this conversation using any")
    p.add_argument("--yes", action="store_true",
                   help="send without showing the redacted request first (scripts)")
    add_store_flags(p)
    add_generation_flags(p)
    p.set_defaults(handler=run)


def add_generation_flags(p: argparse.ArgumentParser) -> None:
    """Sampling flags shared by ``ask`` and ``chat``."""
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--seed", type=int)


def generation_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The sampling flags given, checked against the settings' bounds (NaN, -1, 2…)."""
    from app.core.settings import validate_generation

    return validate_generation(
        temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
        max_tokens=args.max_tokens, seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    """Answer one question."""
    from app.cli._app import open_for_cli

    question = " ".join(args.question)
    overrides = generation_overrides(args)  # refused before anything is opened or loaded
    app = open_for_cli(args, engine=args.route in (None, "local"))
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        if args.route in (None, "local"):
            app.chat.load_model(args.model)
        params = replace(app.chat.params, **overrides)  # checked by the core above
        stream = None if args.json else _write
        result = app.chat.send(
            question, conversation_id=args.conversation, on_token=stream, cancel=cancel,
            params=params, route=args.route, confirm=None if args.yes else confirm_on_terminal,
            collections=[] if args.no_collections else args.collection,
        )
        info = result.engine
    finally:
        signal.signal(signal.SIGINT, previous)
        app.close()
    c = result.completion
    if args.json:
        print_json({
            "answer": c.text,
            "complete": c.complete,
            "finish_reason": c.finish_reason,
            "conversation_id": result.conversation_id,
            "model": {"id": info.model_id, "sha256": info.model_sha256, "device": info.device},
            "route": info.route,
            "route_note": result.route_note,
            "redactions": result.redactions or {},
            "sources": [{"n": s.n, "file": s.file, "page": s.page, "heading": s.heading,
                         "flagged": s.flagged, "collection": s.collection,
                         "sha256": s.sha256} for s in result.sources or []],
            "collections": list(result.scope),
            "notes": list(result.notes),
            "usage": {
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "time_to_first_token_s": round(c.ttft_s, 4),
                "tokens_per_second": round(c.tokens_per_s, 2),
                "total_s": round(c.total_s, 4),
            },
        })
    else:
        sys.stdout.write("\n")
        if result.sources is not None:
            from app.cli.docs import print_sources

            print_sources(result.sources, c.text)
        if result.route_note:
            print(f"[kept on this machine: {result.route_note}]", file=sys.stderr)
        for note in result.notes:
            print(f"[{note}]", file=sys.stderr)
        if not c.complete:
            print(f"[answer incomplete: {c.error or c.finish_reason}]", file=sys.stderr)
            if c.finish_reason == "error" and info.route != "local":
                print("  → Retry, or ask without --route to answer on this machine.",
                      file=sys.stderr)
    return 0 if c.finish_reason != "error" else 6


def confirm_on_terminal(outgoing: str, decision: Any) -> bool:
    """Show exactly what will leave the machine and ask; no terminal means no."""
    if not sys.stdin.isatty():
        return False
    print(f"This will be sent to {decision.route} (after redaction):\n", file=sys.stderr)
    print(outgoing, file=sys.stderr)
    answer = input("\nSend it? [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _write(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()

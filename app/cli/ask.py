"""``enclave ask``: one question, the answer streamed to stdout.

A reasoning model's thinking is not the answer: by default the terminal says "Thinking…"
(on stderr) while the model reasons and stdout carries the answer alone; ``--show-thinking``
shows the reasoning too, dimmed, on stderr. The history keeps the whole text as written.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from typing import Any, TextIO

from app.cli._app import add_store_flags
from app.cli._common import print_json, row_id_arg
from app.core.reasoning import split_reasoning
from app.core.reasoning_stream import Piece, ReasoningStream


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
    p.add_argument("--show-thinking", action="store_true",
                   help="show a reasoning model's thinking (dimmed, on stderr)")


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
        stream = None if args.json else AnswerPrinter(args.show_thinking)
        result = app.chat.send(
            question, conversation_id=args.conversation, on_token=stream, cancel=cancel,
            params=params, route=args.route, confirm=None if args.yes else confirm_on_terminal,
            collections=[] if args.no_collections else args.collection,
        )
        info = result.engine
        if stream is not None:
            stream.finish()
    finally:
        signal.signal(signal.SIGINT, previous)
        app.close()
    c = result.completion
    reasoned = split_reasoning(c.text)
    if args.json:
        print_json({
            "answer": reasoned.answer,
            **({"thinking": reasoned.thinking} if args.show_thinking else {}),
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

            print_sources(result.sources, reasoned.answer)
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


class AnswerPrinter:
    """Streams an answer to the terminal: the answer on stdout, the reasoning set aside.

    Args:
        show_thinking: Print the reasoning (dimmed on a terminal, on stderr) instead of a
            single "Thinking…" line per reasoning block.
        out: Where the answer goes (stdout).
        err: Where reasoning and notes go (stderr).
    """

    def __init__(self, show_thinking: bool = False, out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.show_thinking = show_thinking
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._stream = ReasoningStream()
        self._in_thinking = False
        dim = self.show_thinking and self.err.isatty()
        self._dim, self._plain = ("\033[2m", "\033[0m") if dim else ("", "")

    def __call__(self, piece: str) -> None:
        """One streamed piece of the answer."""
        self._show(self._stream.feed(piece))

    def finish(self) -> None:
        """The answer ended: print what was held back, close an open reasoning block."""
        self._show(self._stream.finish())
        self._leave_thinking()

    def _show(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            if piece.kind == "thinking":
                self._enter_thinking()
                if self.show_thinking:
                    self.err.write(piece.text)
            elif piece.kind == "retracted":
                self.out.write("\n")
                self.err.write("[the text above was the model's reasoning; the answer "
                               "follows]\n")
            else:
                self._leave_thinking()
                self.out.write(piece.text)
        self.err.flush()
        self.out.flush()

    def _enter_thinking(self) -> None:
        if self._in_thinking:
            return
        self._in_thinking = True
        self.out.flush()
        self.err.write(f"{self._dim}Thinking…" + ("\n" if self.show_thinking else ""))

    def _leave_thinking(self) -> None:
        if self._in_thinking:
            self._in_thinking = False
            self.err.write(f"{self._plain}\n")

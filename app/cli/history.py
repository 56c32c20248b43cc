"""``enclave history``: list, show, search, export and tidy conversations."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime
from typing import Any

from app.cli._common import bounded_int, row_id_arg
from app.cli.store import add_passphrase_option, open_store
from app.core.history_actions import (
    ExportNotAllowed,
    delete_conversation,
    export_allowed,
    export_conversation,
)
from app.core.inputs import SQLITE_INT_MAX
from app.core.paths import default_paths
from app.core.store import MARK_END, MARK_START

MAX_LIST = 1_000_000  # more rows than one listing should print


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


def _list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        conversations = store.list_conversations(limit=args.limit, offset=args.offset)
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in conversations], indent=2))
        return 0
    for c in conversations:
        pin = "*" if c.pinned else " "
        print(f"{c.id:>6} {pin} {_when(c.updated)}  {c.title}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        print(store.export_conversation(args.id, "md"))
    return 0


def _search(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        hits = store.search(args.query, limit=args.limit)
    if args.json:
        print(json.dumps([dataclasses.asdict(h) for h in hits], ensure_ascii=False, indent=2))
        return 0
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("[", "]")
    for h in hits:
        snippet = h.snippet.replace(MARK_START, bold).replace(MARK_END, plain)
        print(f"{h.conversation_id:>6}  {h.conversation_title}  ({h.role}, {_when(h.created)})")
        print(f"        {snippet}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    _policy, audit = _policy_and_audit()
    try:
        with open_store(args) as store:
            delete_conversation(store, audit, args.id)
    finally:
        if audit is not None:
            audit.close()
    print(f"Deleted conversation {args.id}.")
    return 0


def _policy_and_audit() -> tuple[Any, Any]:
    from app.core.context import open_audit
    from app.core.policy import load_policy

    paths = default_paths().ensure()
    policy = load_policy(paths.policy_root)
    audit, _warnings = open_audit(paths, policy)
    return policy, audit


def _export(args: argparse.Namespace) -> int:
    policy, audit = _policy_and_audit()
    try:
        if not export_allowed(policy):  # refuse before asking for a passphrase
            raise ExportNotAllowed(
                "Exporting conversations is turned off by your organization.",
                "Ask your administrator if you need a copy.")
        with open_store(args) as store:
            text = export_conversation(policy, store, audit, args.id, args.format,
                                       path=args.output or "stdout")
    finally:
        if audit is not None:
            audit.close()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


def _rename(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.rename(args.id, args.title)
    return 0


def _pin(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.pin(args.id, args.pinned)
    return 0


def register(subparsers: Any) -> None:
    """Add ``enclave history``."""
    parser = subparsers.add_parser("history", help="your saved conversations")
    sub = parser.add_subparsers(dest="history_command", metavar="ACTION", required=True)

    def command(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        add_passphrase_option(p)
        p.set_defaults(handler=handler)
        return p

    p = command("list", "conversations, pinned first, newest first", _list)
    p.add_argument("--limit", type=bounded_int(1, MAX_LIST), default=50)
    p.add_argument("--offset", type=bounded_int(0, SQLITE_INT_MAX), default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("show", "print a conversation", _show)
    p.add_argument("id", type=row_id_arg)

    p = command("search", "full-text search over every message", _search)
    p.add_argument("query")
    p.add_argument("--limit", type=bounded_int(1, MAX_LIST), default=20)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("delete", "delete a conversation for good", _delete)
    p.add_argument("id", type=row_id_arg)

    p = command("export", "export a conversation", _export)
    p.add_argument("id", type=row_id_arg)
    p.add_argument("--format", choices=["md", "json"], default="md")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")

    p = command("rename", "change a conversation's title", _rename)
    p.add_argument("id", type=row_id_arg)
    p.add_argument("title")

    p = command("pin", "keep a conversation at the top of the list", _pin)
    p.add_argument("id", type=row_id_arg)
    p.set_defaults(pinned=True)

    p = command("unpin", "undo pin", _pin)
    p.add_argument("id", type=row_id_arg)
    p.set_defaults(pinned=False)

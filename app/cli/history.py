"""``enclave history``: list, show, search, export and tidy conversations.

``show`` draws the core's ``ConversationView``, as the window does: the branch on screen (the
newest, or the one through ``--through MESSAGE_ID``), ``‹ i/n ›`` on edited or regenerated
messages, each answer's sources with whether the cited document changed or was removed since,
and the collections the conversation answers from. A reasoning model's thinking is kept in
the history but left out of ``show`` and ``export`` unless ``--with-thinking`` asks for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime
from typing import Any

from app.cli._common import bounded_int, print_json, row_id_arg
from app.cli.store import _prompt, add_passphrase_option, given_passphrase, open_store
from app.core.history_actions import (
    ExportNotAllowed,
    delete_conversation,
    export_allowed,
    export_conversation,
    rename_conversation,
)
from app.core.inputs import SQLITE_INT_MAX
from app.core.paths import default_paths
from app.core.reasoning import split_reasoning
from app.core.store import MARK_END, MARK_START, HistoryStore, PassphraseRequired, open_history

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


def _open_keeping_passphrase(args: argparse.Namespace) -> tuple[HistoryStore, str | None]:
    """Like ``open_store``, and the passphrase it took: the documents index needs it too."""
    paths = default_paths()
    passphrase = given_passphrase(args)
    try:
        return open_history(paths, passphrase=passphrase), passphrase
    except PassphraseRequired:
        if passphrase is not None or not paths.database_file.exists():
            raise
        passphrase = _prompt("History passphrase: ", confirm=False)
        return open_history(paths, passphrase=passphrase), passphrase


def _source_states(view: Any, passphrase: str | None) -> dict[tuple[int, int], str]:
    """``(message id, n) -> current/changed/removed/unknown`` for every source shown."""
    cited = [s for shown in view.messages for s in shown.sources]
    if not cited:
        return {}
    from app.core.docs.index import open_index  # numpy and sqlite-vec: only when needed
    from app.core.grounding import Documents
    from app.core.policy import load_policy

    paths = default_paths()
    documents = Documents(paths, load_policy(paths.policy_root),
                          lambda: open_index(paths, passphrase=passphrase))
    try:
        states = documents.source_status(cited)
    finally:
        documents.close()
    return {(s.message_id, s.n): state for s, state in zip(cited, states, strict=True)}


_STATE_NOTE = {
    "changed": " — the document changed since this answer cited it",
    "removed": " — the document is no longer in this collection",
}


def _show(args: argparse.Namespace) -> int:
    from app.core.conversation_view import view_conversation

    store, passphrase = _open_keeping_passphrase(args)
    with store:
        conversation = store.conversation(args.id)
        view = view_conversation(store, args.id, args.through)
    states = _source_states(view, passphrase)
    if args.json:
        print_json(_view_json(conversation, view, states, args.with_thinking))
        return 0
    print(f"# {conversation.title}\n")
    print(f"Collections: {', '.join(view.scope) if view.scope else 'none'}\n")
    for shown in view.messages:
        _print_message(shown, states, args.with_thinking)
    return 0


def _answer_and_thinking(m: Any) -> tuple[str, str]:
    """An answer's text without its reasoning, and the reasoning ("" for none)."""
    if m.role != "assistant":
        return m.text, ""
    reasoned = split_reasoning(m.text)
    return (reasoned.answer, reasoned.thinking) if reasoned.has_thinking else (m.text, "")


def _print_message(shown: Any, states: dict[tuple[int, int], str],
                   with_thinking: bool = False) -> None:
    m, versions = shown.message, shown.versions
    header = f"## {m.role}"
    header += f" ({m.model_id})" if m.model_id else ""
    header += f" · #{m.id}"
    header += f" · {versions.label()}" if versions.count > 1 else ""
    header += " — incomplete" if not m.complete else ""
    print(header)
    if versions.count > 1:
        others = ", ".join(f"#{i}" for i in versions.ids if i != m.id)
        print(f"(other versions: {others}; show one with --through ID)")
    text, thinking = _answer_and_thinking(m)
    if thinking and with_thinking:
        print("\n> Thinking:\n" + "\n".join(f"> {line}" for line in thinking.splitlines()))
    elif thinking:
        print("(thinking hidden; --with-thinking shows it)")
    print(f"\n{text}\n")
    if shown.sources:
        print("Sources:")
        for s in shown.sources:
            note = _STATE_NOTE.get(states.get((m.id, s.n), ""), "")
            print(f"  [{s.n}] {s.label} ({s.collection}){note}")
        print()


def _view_json(conversation: Any, view: Any, states: dict[tuple[int, int], str],
               with_thinking: bool) -> Any:
    from app.core.store.export import source_record

    def text_fields(m: Any) -> dict[str, str]:
        text, thinking = _answer_and_thinking(m)
        return {"text": text, **({"thinking": thinking} if with_thinking and thinking else {})}

    return {
        "conversation": dataclasses.asdict(conversation),
        "collections": list(view.scope),
        "messages": [
            {**dataclasses.asdict(shown.message), **text_fields(shown.message),
             "versions": {"index": shown.versions.index, "count": shown.versions.count,
                          "ids": list(shown.versions.ids)},
             "sources": [{**source_record(s),
                          "status": states.get((shown.message.id, s.n), "unknown")}
                         for s in shown.sources]}
            for shown in view.messages
        ],
    }


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
                                       path=args.output or "stdout",
                                       include_thinking=args.with_thinking)
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
        rename_conversation(store, args.id, args.title)
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

    p = command("show", "print a conversation: one branch, versions, sources", _show)
    p.add_argument("id", type=row_id_arg)
    p.add_argument("--through", type=row_id_arg, metavar="MESSAGE_ID",
                   help="show the branch through this message (another version)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--with-thinking", action="store_true",
                   help="show reasoning models' thinking (hidden by default)")

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
    p.add_argument("--with-thinking", action="store_true",
                   help="include reasoning models' thinking, marked (left out by default)")

    p = command("rename", "change a conversation's title", _rename)
    p.add_argument("id", type=row_id_arg)
    p.add_argument("title")

    p = command("pin", "keep a conversation at the top of the list", _pin)
    p.add_argument("id", type=row_id_arg)
    p.set_defaults(pinned=True)

    p = command("unpin", "undo pin", _pin)
    p.add_argument("id", type=row_id_arg)
    p.set_defaults(pinned=False)

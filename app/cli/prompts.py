"""``enclave prompts``: the prompt library, and each conversation's system prompt.

The organization's prompts (policy ``prompts.managed``) are listed first, marked ``managed``;
they cannot be edited or removed. ``system CONVERSATION_ID`` shows or sets the system prompt a
conversation's turns get after the site's (policy ``prompts.system``), which always comes first.
The core (``app.core.prompts``) validates and normalises every name and text, as for the GUI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from app.cli._common import print_json, row_id_arg
from app.cli.store import add_passphrase_option, open_store

if TYPE_CHECKING:
    from app.core.prompts import PromptLibrary


@contextmanager
def _library(args: argparse.Namespace) -> Iterator[PromptLibrary]:
    # Imported here: every `enclave` invocation imports this module to build its parser.
    from app.core.paths import default_paths
    from app.core.policy import load_policy
    from app.core.prompts import PromptLibrary

    policy = load_policy(default_paths().policy_root)
    with open_store(args) as store:
        if getattr(args, "conversation", None) is not None:
            store.conversation(args.conversation)  # an unknown id is an error, not "none"
        yield PromptLibrary(store, policy)


def _text(args: argparse.Namespace) -> str | None:
    """The text given as an argument, or read from ``--file`` (``-``: standard input)."""
    if args.file is None:
        return args.text  # type: ignore[no-any-return]
    if args.file == "-":
        return sys.stdin.read()
    with open(args.file, encoding="utf-8", errors="surrogateescape") as fh:
        return fh.read()


def _list(args: argparse.Namespace) -> int:
    from app.core.prompts import as_json

    with _library(args) as library:
        prompts = library.prompts(args.search or "", args.kind)
    if args.json:
        print_json([as_json(p) for p in prompts])
        return 0
    if not prompts:
        print("No prompts yet. Save one with: enclave prompts add NAME TEXT")
    for p in prompts:
        ref = "managed" if p.managed else f"{p.id:>7}"
        first = p.body.splitlines()[0] if p.body else ""
        print(f"{ref:>7}  {p.kind:<6}  {p.name}  — {first[:60]}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from app.core.prompts import as_json

    with _library(args) as library:
        prompt = library.find(args.ref)
    if args.json:
        print_json(as_json(prompt))
    else:
        print(prompt.body)
    return 0


def _add(args: argparse.Namespace) -> int:
    from app.core.prompts import InvalidPrompt

    text = _text(args)
    if text is None:
        raise InvalidPrompt("The prompt has no text.",
                            "Give it after the name, or with --file PATH (- for standard input).")
    with _library(args) as library:
        saved = library.add(args.name, text, args.kind)
    print(f"Saved {saved.kind} {saved.name!r} as {saved.id}.")
    return 0


def _edit(args: argparse.Namespace) -> int:
    with _library(args) as library:
        saved = library.edit(args.ref, name=args.name, body=_text(args), kind=args.kind)
    print(f"Updated {saved.kind} {saved.name!r} ({saved.id}).")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _library(args) as library:
        gone = library.remove(args.ref)
    print(f"Removed {gone.kind} {gone.name!r}.")
    return 0


def _use(args: argparse.Namespace) -> int:
    with _library(args) as library:
        used = library.use(args.ref, args.conversation)
    print(f"Conversation {args.conversation} now uses the system prompt {used.name!r}.")
    return 0


def _system(args: argparse.Namespace) -> int:
    with _library(args) as library:
        if args.clear:
            library.set_conversation_prompt(args.conversation, None)
            print(f"Conversation {args.conversation} has no system prompt of its own now.")
            return 0
        text = _text(args)
        if text is not None:
            library.set_conversation_prompt(args.conversation, text)
            print(f"Set the system prompt of conversation {args.conversation}.")
            return 0
        site, own = library.site_system_prompt(), library.conversation_prompt(args.conversation)
    if args.json:
        print_json({"conversation_id": args.conversation, "site": site, "conversation": own})
        return 0
    if site:
        print("Site system prompt (managed by your organization, always first):")
        print(site)
        print()
    print("This conversation's system prompt:" if own else
          "This conversation has no system prompt of its own.")
    if own:
        print(own)
    return 0


def register(subparsers: Any) -> None:
    """Add ``enclave prompts``."""
    parser = subparsers.add_parser("prompts", help="saved prompts and system prompts")
    sub = parser.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)

    def command(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        add_passphrase_option(p)
        p.set_defaults(handler=handler)
        return p

    def text_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("text", nargs="?", help="the text (or use --file)")
        p.add_argument("--file", metavar="PATH", help="read the text from PATH (- for stdin)")

    kinds = ["prompt", "system"]
    p = command("list", "the organization's prompts (managed), then yours", _list)
    p.add_argument("--kind", choices=kinds, help="only prompts, or only system prompts")
    p.add_argument("--search", metavar="TEXT", help="only those whose name or text has TEXT")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("show", "print a prompt's text", _show)
    p.add_argument("ref", metavar="NAME|ID")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("add", "save a prompt of your own", _add)
    p.add_argument("name")
    text_options(p)
    p.add_argument("--kind", choices=kinds, default="prompt",
                   help="prompt (inserted into a message) or system (a system prompt)")

    p = command("edit", "change one of your prompts", _edit)
    p.add_argument("ref", metavar="NAME|ID")
    text_options(p)
    p.add_argument("--name", help="a new name")
    p.add_argument("--kind", choices=kinds, help="a new kind")

    p = command("remove", "delete one of your prompts", _remove)
    p.add_argument("ref", metavar="NAME|ID")

    p = command("use", "make a system prompt a conversation's own", _use)
    p.add_argument("ref", metavar="NAME|ID")
    p.add_argument("--conversation", type=row_id_arg, required=True, metavar="ID")

    p = command("system", "show or set a conversation's system prompt", _system)
    p.add_argument("conversation", type=row_id_arg, metavar="CONVERSATION_ID")
    text_options(p)
    p.add_argument("--clear", action="store_true", help="remove the conversation's own")
    p.add_argument("--json", action="store_true", help="machine-readable output")

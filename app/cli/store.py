"""``enclave store``: the encrypted history database itself (status, rekey).

Passphrases are read with ``getpass`` from the terminal, or from ``--passphrase-file FILE``
(``-`` for standard input; first line) for scripts. There is deliberately no environment
variable: environments are inherited by child processes and readable in /proc.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import sys
from typing import Any

from app.core.errors import EnclaveError
from app.core.paths import default_paths
from app.core.store import HistoryStore, KeyMode, PassphraseRequired, open_history, store_status
from app.core.store.database import damaged
from app.core.store.status import file_status


def add_passphrase_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--passphrase-file`` to a sub-command."""
    parser.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help="read the history passphrase from FILE's first line ('-' for stdin) "
        "instead of prompting (passphrase mode only)",
    )


def _read_first_line(path: str) -> str:
    try:
        if path == "-":
            line = sys.stdin.readline()
        else:
            with open(path, encoding="utf-8") as fh:
                line = fh.readline()
    except OSError as exc:
        raise EnclaveError(
            f"Cannot read the passphrase file {path}: {exc.strerror}.", "Check the path."
        ) from exc
    return line.rstrip("\r\n")


def _prompt(prompt: str, *, confirm: bool) -> str:
    if not sys.stdin.isatty():
        raise PassphraseRequired(
            "The history needs a passphrase and there is no terminal to ask for it.",
            "Pass --passphrase-file FILE (or '-' to read it from standard input).",
        )
    value = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat the passphrase: ") != value:
        raise EnclaveError("The two passphrases differ.", "Run the command again.")
    if not value:
        raise EnclaveError("An empty passphrase cannot protect the history.", "Choose one.")
    return value


def given_passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase from ``--passphrase-file``, if one was given."""
    path = getattr(args, "passphrase_file", None)
    return _read_first_line(path) if path else None


def open_store(args: argparse.Namespace) -> HistoryStore:
    """Open the history for a CLI command, asking for a passphrase only when needed."""
    paths = default_paths()
    passphrase = given_passphrase(args)
    try:
        return open_history(paths, passphrase=passphrase)
    except PassphraseRequired:
        if passphrase is not None:
            raise
        first_run = not paths.database_file.exists()
        label = "Choose a passphrase for the history: " if first_run else "History passphrase: "
        return open_history(paths, passphrase=_prompt(label, confirm=first_run))


def _status(args: argparse.Namespace) -> int:
    paths = default_paths()
    passphrase = given_passphrase(args)
    problem: EnclaveError | None = None
    try:
        try:
            status = store_status(paths, passphrase=passphrase)
        except PassphraseRequired:
            if passphrase is not None:
                raise
            pw = _prompt("History passphrase: ", confirm=False)
            status = store_status(paths, passphrase=pw)
    except EnclaveError as exc:
        # Still say what can be said without the key (mode, path, size).
        problem = exc
        status = file_status(paths.database_file)
    if args.json:
        report = dataclasses.asdict(status)
        report["error"] = problem.message if problem else None
        print(json.dumps(report, indent=2))
        return problem.exit_code if problem else 0
    rows: list[tuple[str, Any]] = [
        ("database", status.database_file),
        ("exists", "yes" if status.exists else "no (created on first use)"),
        ("key mode", status.mode or "-"),
        ("size", f"{status.size_bytes:,} bytes"),
        ("schema version", status.schema_version if status.schema_version is not None else "-"),
        ("cipher", f"SQLCipher {status.cipher_version}"),
        ("conversations", status.conversations if status.conversations is not None else "-"),
        ("messages", status.messages if status.messages is not None else "-"),
        ("pages", "damaged" if status.damage else ("all sound" if status.exists else "-")),
    ]
    for name, value in rows:
        print(f"{name:>15}: {value}")
    if problem is None and status.damage is not None:
        problem = damaged(paths.database_file, status.damage)
    if problem is not None:
        raise problem
    return 0


def _recover(args: argparse.Namespace) -> int:
    from app.core.audit import events
    from app.core.context import record_event
    from app.core.store.recover import recover_history

    paths = default_paths()
    passphrase = given_passphrase(args)
    try:
        report = recover_history(paths.database_file, passphrase)
    except PassphraseRequired:
        if passphrase is not None:
            raise
        report = recover_history(
            paths.database_file, _prompt("History passphrase: ", confirm=False))
    before = (f" of {report.before[0]} conversations and {report.before[1]} messages"
              if report.before else "")
    record_event(paths, events.HISTORY_RECOVERED,
                 detail={"conversations": report.conversations, "messages": report.messages,
                         "unreadable_ids": report.unreadable_ids,
                         "damaged_copy": str(report.damaged_copy)},
                 outcome={"status": "ok", "reason": "damaged history salvaged"})
    print(f"Recovered {report.conversations} conversations and {report.messages} "
          f"messages{before}.")
    if report.before is not None and report.before[1] > report.messages:
        print(f"{report.before[1] - report.messages} messages sat on damaged pages and could "
              "not be read back.")
    elif report.before is None and report.unreadable_ids:
        print("Some messages sat on damaged pages and could not be read back.")
    if report.unverified:
        print(f"{report.unverified} messages could only be read past a damaged page: read them "
              "with care, a few characters may have been altered.")
    print(f"The damaged database is kept, unchanged, at {report.damaged_copy}.")
    print("Document collections were not carried over: add their files again "
          "(`enclave docs add PATH --collection NAME`).")
    return 0


def _rekey(args: argparse.Namespace) -> int:
    from app.core.store.keys import read_key_file
    from app.core.store.rekey import rekey

    paths = default_paths()
    db_path = paths.database_file
    key_file = read_key_file(db_path)
    current = key_file.current.mode if key_file else KeyMode.KEYRING
    target = KeyMode(args.to) if args.to else current
    passphrase = given_passphrase(args)
    if passphrase is None and current is KeyMode.PASSPHRASE:
        passphrase = _prompt("Current history passphrase: ", confirm=False)
    new_passphrase = None
    if target is KeyMode.PASSPHRASE:
        if args.new_passphrase_file:
            new_passphrase = _read_first_line(args.new_passphrase_file)
        else:
            new_passphrase = _prompt("New history passphrase: ", confirm=True)
    from app.core.audit import events
    from app.core.context import record_event

    mode = rekey(db_path, to=target, passphrase=passphrase, new_passphrase=new_passphrase)
    record_event(paths, events.KEY_ROTATED, detail={"mode": mode.value},
                 outcome={"status": "ok", "reason": f"history key rotated ({mode.value} mode)"})
    print(f"History re-encrypted with a new key ({mode.value} mode).")
    return 0


def register(subparsers: Any) -> None:
    """Add ``enclave store``."""
    parser = subparsers.add_parser("store", help="the encrypted history database")
    sub = parser.add_subparsers(dest="store_command", metavar="ACTION", required=True)

    status = sub.add_parser("status", help="key mode, location, size, versions and counts")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    add_passphrase_option(status)
    status.set_defaults(handler=_status)

    recover = sub.add_parser(
        "recover", help="salvage a damaged history into a new database (close Enclave first)")
    add_passphrase_option(recover)
    recover.set_defaults(handler=_recover)

    rekey = sub.add_parser("rekey", help="re-encrypt with a new key (close Enclave first)")
    rekey.add_argument(
        "--to",
        choices=[m.value for m in KeyMode],
        help="move the key to the OS keyring or to a passphrase (default: keep the mode)",
    )
    add_passphrase_option(rekey)
    rekey.add_argument(
        "--new-passphrase-file",
        metavar="FILE",
        help="read the new passphrase from FILE ('-' for stdin) instead of prompting",
    )
    rekey.set_defaults(handler=_rekey)

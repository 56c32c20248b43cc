"""``enclave settings``: show and change the user's own settings."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.core.paths import default_paths
from app.core.policy import load_policy
from app.core.settings import Settings


def register(subparsers: Any) -> None:
    """Add the ``settings`` command group."""
    parser = subparsers.add_parser("settings", help="show and change your settings")
    sub = parser.add_subparsers(dest="settings_command", metavar="ACTION", required=True)

    show = sub.add_parser("show", help="every setting: value, and whether policy locks it")
    show.add_argument("--json", action="store_true", help="print machine-readable JSON")
    show.set_defaults(handler=_show)

    set_ = sub.add_parser("set", help="change a setting (refused if policy locks it)")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE", help="JSON, or plain text for text settings")
    set_.set_defaults(handler=_set)


def _load() -> Settings:
    return Settings.load(default_paths(), load_policy())


def _show(args: argparse.Namespace) -> int:
    settings = _load()
    if args.json:
        print(json.dumps(settings.report(), indent=2, ensure_ascii=False))
        return 0
    for warning in settings.warnings:
        print(f"warning: {warning}")
    for key in settings:
        state = settings.state(key)
        lock = " [locked by policy]" if state.locked else ""
        print(f"{key} = {json.dumps(state.value)}  ({state.level}: {state.source}){lock}")
    return 0


def _set(args: argparse.Namespace) -> int:
    settings = _load()
    settings.set_from_text(args.key, args.value)
    print(f"{args.key} = {json.dumps(settings.get(args.key))}")
    return 0

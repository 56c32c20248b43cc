"""``enclave api tokens``: make, list and revoke the local API's tokens.

A new token is printed once, alone on the last line of the output (``| tail -n 1`` in a
script); Enclave keeps only its hash, in the encrypted history.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from app.cli._common import print_json


def register(sub: Any) -> None:
    """Add the ``api`` command group."""
    from app.cli.store import add_passphrase_option

    parser = sub.add_parser("api", help="the local OpenAI-compatible API's tokens")
    groups = parser.add_subparsers(dest="api_command", metavar="ACTION", required=True)
    tokens = groups.add_parser("tokens", help="make, list and revoke API tokens")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create", help="make a token (printed once, alone on the last line)",
        description="Make an API token. Only its hash is kept: copy it from the last line.")
    create.add_argument("name", help="a name for the token (letters, digits, . _ -)")
    create.add_argument("--expires", metavar="WHEN",
                        help="30d, 12h, 2w, 90m, a date (2027-01-31) or never "
                        "(default: the longest policy allows)")
    create.add_argument("--scope", metavar="SCOPES",
                        help="comma-separated: chat, embeddings, history (default: chat); "
                        "history keeps the token's conversations in your history")
    create.add_argument("--route", metavar="ROUTE",
                        help="'local' (default) or a connector endpoint policy allows tokens")
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="every token: state, scopes, route, dates")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("name", help="the token's name")
    revoke.set_defaults(handler=_revoke)
    for action in (create, listing, revoke):
        add_passphrase_option(action)
        action.set_defaults(no_save=False)


def _open(args: argparse.Namespace) -> Any:
    from app.cli._app import open_for_cli

    return open_for_cli(args)


def _create(args: argparse.Namespace) -> int:
    from app.core.api import create_token, describe
    from app.core.api.tokens import check_name, parse_expiry, parse_scopes

    # What can be refused without the history is refused before it is opened.
    check_name(args.name)
    parse_scopes(args.scope)
    parse_expiry(args.expires, time.time())
    app = _open(args)
    assert app.history is not None  # open_app with save=True has one or raised
    try:
        made = create_token(app.history, app.policy, args.name, scopes=args.scope,
                            route=args.route, expires=args.expires, user=app.chat.user,
                            groups=app.chat.groups, audit=app.audit)
    finally:
        app.close()
    shown = describe(made.record, time.time())
    print(f"Created API token {shown['name']!r}: scopes {', '.join(shown['scopes'])}; "
          f"route {shown['route']}; expires {shown['expires'] or 'never'}.")
    print("It is shown this once and kept only as a hash. Send it as "
          "'Authorization: Bearer <token>'; revoke it with "
          f"`enclave api tokens revoke {shown['name']}`.")
    print(made.secret)
    return 0


def _list(args: argparse.Namespace) -> int:
    from app.core.api import describe

    app = _open(args)
    assert app.history is not None
    try:
        records = app.history.api_tokens()
    finally:
        app.close()
    now = time.time()
    rows = [describe(r, now) for r in records]
    if args.json:
        print_json({"tokens": rows})
        return 0
    if not rows:
        print("No API tokens. Make one with: enclave api tokens create NAME")
        return 0
    for row in rows:
        when = row["expires"] or "never"
        used = row["last_used"] or "never"
        print(f"{row['name']:<20} {row['state']:<8} {','.join(row['scopes']):<24} "
              f"route {row['route']:<10} expires {when}  last used {used}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from app.core.api import revoke_token

    app = _open(args)
    assert app.history is not None
    try:
        revoke_token(app.history, args.name, audit=app.audit)
    finally:
        app.close()
    print(f"Revoked API token {args.name!r}; it is refused from its next request on.")
    return 0

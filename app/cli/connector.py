"""``enclave connector``: API keys, the routes this user may use, and a test request."""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import asdict
from typing import Any

from app.cli._common import print_json
from app.core.errors import EnclaveError, ExitCode
from app.core.policy import EffectivePolicy, current_os_user, load_policy

TEST_REQUEST = "Reply with the single word OK."


class ConnectorCommandError(EnclaveError):
    """A connector command cannot do what was asked."""

    exit_code = ExitCode.USAGE


def register(subparsers: Any) -> None:
    """Add the ``connector`` command group."""
    parser = subparsers.add_parser("connector", help="remote endpoints: keys, routes, test")
    sub = parser.add_subparsers(dest="connector_command", metavar="ACTION", required=True)

    set_key = sub.add_parser("set-key", help="store an endpoint's API key (read from stdin)")
    set_key.add_argument("endpoint", help="endpoint name from the policy")
    set_key.set_defaults(handler=_set_key)

    delete_key = sub.add_parser("delete-key", help="remove an endpoint's stored API key")
    delete_key.add_argument("endpoint", help="endpoint name from the policy")
    delete_key.set_defaults(handler=_delete_key)

    routes = sub.add_parser("routes", help="the routes you may use, and why others are not")
    routes.add_argument("--json", action="store_true", help="machine-readable output")
    routes.set_defaults(handler=_routes)

    test = sub.add_parser("test", help="send a tiny request to an endpoint")
    test.add_argument("endpoint", help="endpoint name from the policy")
    test.add_argument("--model", help="one of the endpoint's models (default: the first)")
    test.set_defaults(handler=_test)


def _endpoint_or_fail(policy: EffectivePolicy, name: str) -> dict[str, Any]:
    from app.core.routing import find_endpoint

    endpoint = find_endpoint(policy, name)
    if endpoint is None:
        raise ConnectorCommandError(
            f"There is no endpoint named {name!r} in the policy.",
            "See `enclave connector routes` for the endpoints you may use.",
        )
    return endpoint


def read_key(stream: Any = None) -> str:
    """Read one API key: hidden prompt on a terminal, else the first line of stdin."""
    stream = stream or sys.stdin
    hidden = stream.isatty()
    key = (getpass.getpass("API key (input hidden): ") if hidden else stream.readline()).strip()
    if not key:
        raise ConnectorCommandError("No API key was given on standard input.", "")
    return key


def store_key(policy: EffectivePolicy, name: str, key: str) -> None:
    """Store ``key`` in the OS keyring for the endpoint ``name`` of ``policy``.

    Raises:
        ConnectorCommandError: the endpoint is unknown.
        KeyringUnavailable: no trusted OS keyring.
    """
    from app.core.engines.remote_http import key_name
    from app.core.secrets import set_secret

    endpoint = _endpoint_or_fail(policy, name)
    set_secret(key_name(str(endpoint["name"])), key)


def _set_key(args: argparse.Namespace) -> int:
    policy = load_policy()
    _endpoint_or_fail(policy, args.endpoint)  # before reading: no key for a typo
    store_key(policy, args.endpoint, read_key())
    print(f"Stored the API key for {args.endpoint} in the OS keyring.")
    return 0


def _delete_key(args: argparse.Namespace) -> int:
    from app.core.engines.remote_http import key_name
    from app.core.secrets import delete_secret

    delete_secret(key_name(args.endpoint))
    print(f"Removed any stored API key for {args.endpoint}.")
    return 0


def routes_report(policy: EffectivePolicy, user: str, groups: list[str]) -> dict[str, Any]:
    """What ``enclave connector routes --json`` prints."""
    from app.core.routing import available_routes

    gate = policy.connector_allowed_for(user, groups)
    return {
        "user": user,
        "connector": {"allowed": gate.allowed, "rule": gate.rule, "reason": gate.reason},
        "routes": [asdict(route) for route in available_routes(policy, user, groups)],
    }


def render_routes(
    policy: EffectivePolicy, user: str, groups: list[str], *, as_json: bool = False
) -> int:
    """Print the routes this user may use (and why remote ones are missing); exit code 0."""
    report = routes_report(policy, user, groups)
    if as_json:
        print_json(report)
        return 0
    for route in report["routes"]:
        if route["name"] == "local":
            print("local        this machine (always available)")
            continue
        notes = [route["classification"], route["kind"]]
        notes.append("redacted" if route["redacted"] else "not redacted")
        if route["confirm"]:
            notes.append("asks before sending")
        models = ", ".join(route["models"]) or "no models listed"
        print(f"{route['name']:<12} {'; '.join(notes)} — models: {models}")
    gate = report["connector"]
    if not gate["allowed"]:
        print(f"No remote routes: {gate['reason']} (rule: {gate['rule']})")
    return 0


def _routes(args: argparse.Namespace) -> int:
    user, groups = current_os_user()
    return render_routes(load_policy(), user, groups, as_json=args.json)


def run_test(
    policy: EffectivePolicy,
    name: str,
    user: str,
    groups: list[str],
    *,
    model: str | None = None,
    key: str | None = None,
    timeouts: Any = None,
) -> int:
    """Send a fixed one-line request to an endpoint the user may use; print the outcome.

    It is a turn like any other (``ChatService.send``): the gate, the budget, redaction and
    the audit record apply; only the text is fixed (a connectivity test never sends anything
    the user typed, so it needs no confirmation) and nothing is saved to the history.

    Args:
        policy: The effective policy.
        name: The endpoint.
        user: The OS user.
        groups: Their groups.
        model: One of the endpoint's models; None picks the first.
        key: The API key; None loads it (key file or keyring).
        timeouts: ``RemoteTimeouts``; None for the defaults.

    Raises:
        RouteRefused: the route is not allowed for this user, or the budget is spent.
        RemoteError: the endpoint failed.
    """
    from app.core.chat import ChatService
    from app.core.context import open_audit
    from app.core.engines.base import GenerationParams
    from app.core.models.registry import ModelRegistry
    from app.core.outbound import RemoteEngines
    from app.core.paths import default_paths
    from app.core.usage_cost import UsageLedger

    paths = default_paths().ensure()
    audit, _warnings = open_audit(paths, policy)
    chat = ChatService(
        ModelRegistry(paths), audit=audit, policy=policy, user=user, groups=groups,
        ledger=UsageLedger(paths.data_dir / "usage.json"),
        remote=RemoteEngines(key=key, timeouts=timeouts),
    )
    try:
        result = chat.send(TEST_REQUEST, route=name, remote_model=model,
                           params=GenerationParams(max_tokens=8, temperature=0.0),
                           confirm=lambda _text, _decision: True)
    finally:
        chat.close()
        if audit is not None:
            audit.close()
    completion = result.completion
    if completion.error:
        raise ConnectorCommandError(f"{name} failed mid-answer: {completion.error}", "")
    print(
        f"{name} answered in {completion.total_s:.1f} s with model {result.engine.model_id}: "
        f"{completion.text.strip()!r}"
    )
    return 0


def _test(args: argparse.Namespace) -> int:
    user, groups = current_os_user()
    return run_test(load_policy(), args.endpoint, user, groups, model=args.model)

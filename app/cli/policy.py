"""``enclave policy``: show, validate and export the administrator policy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.core.policy import EffectivePolicy, load_policy
from app.core.policy.export import json_schema, write_admx
from app.core.policy.validate import read_policy_file


def register(subparsers: Any) -> None:
    """Add the ``policy`` command group."""
    parser = subparsers.add_parser("policy", help="show, validate and export the admin policy")
    sub = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    show = sub.add_parser("show", help="every policy key: value, level, source, status")
    show.add_argument("--json", action="store_true", help="print machine-readable JSON")
    show.set_defaults(handler=_show)

    validate = sub.add_parser("validate", help="check policy files before deploying them")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.set_defaults(handler=_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of a policy file")
    schema.set_defaults(handler=_schema)

    admx = sub.add_parser("admx", help="write Group Policy templates (ADMX + en-US ADML)")
    admx.add_argument("outdir", type=Path, metavar="OUTDIR")
    admx.set_defaults(handler=_admx)


def _show(args: argparse.Namespace) -> int:
    return render_show(load_policy(), as_json=args.json)


def _cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def render_show(policy: EffectivePolicy, as_json: bool = False) -> int:
    """Print the effective policy (human table or JSON); returns the exit code."""
    if as_json:
        print(json.dumps(policy.report(), indent=2, ensure_ascii=False))
        return 0
    if policy.restricted:
        print("RESTRICTED MODE: local only, connector off, export off. Reasons:")
        for reason in policy.restricted_reasons:
            print(f"  - {reason}")
    if policy.models_blocked:
        print("NO MODEL MAY LOAD: the model allowlist could not be read.")
    for warning in policy.warnings:
        print(f"warning: {warning}")
    print(f"effective policy sha256: {policy.sha256}")
    print()
    for key in policy:
        entry = policy.entry(key)
        status: str = entry.status
        if status == "superseded":
            status += f" (beat {_cell(entry.superseded_value)} from {entry.superseded_source})"
        elif entry.message:
            status += f" ({entry.message})"
        print(f"{key} = {_cell(entry.value)}")
        print(f"    {entry.level} from {entry.source}; {status}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        parsed = read_policy_file(path)
        # Warnings do not fail validation (the setting is allowed) but must be seen.
        for warning in parsed.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if not parsed.issues:
            print(f"{path}: ok")
            continue
        failed = True
        for issue in parsed.issues:
            print(str(issue), file=sys.stderr)
    return 1 if failed else 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def _admx(args: argparse.Namespace) -> int:
    for path in write_admx(args.outdir):
        print(path)
    return 0

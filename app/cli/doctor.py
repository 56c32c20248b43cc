"""``enclave doctor``: is everything a user needs working?"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from app.cli._common import print_json


def register(sub: Any) -> None:
    """Add the ``doctor`` command."""
    p = sub.add_parser("doctor", help="check the installation; non-zero exit if broken")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the health report."""
    from app.core.doctor import healthy, run_checks
    from app.core.paths import default_paths

    paths = default_paths().ensure()
    checks = run_checks(paths)
    ok = healthy(checks)
    if args.json:
        print_json({"healthy": ok, "checks": [asdict(c) for c in checks]})
    else:
        marks = {"ok": "✓", "warning": "!", "error": "✗"}
        for c in checks:
            print(f"{marks[c.status]} {c.name}: {c.detail}")
            if c.hint and c.status != "ok":
                print(f"    → {c.hint}")
        print("\nAll good." if ok else "\nSomething needs attention (see ✗ above).")
    return 0 if ok else 1

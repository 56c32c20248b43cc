"""Smoke-test a frozen or installed ``enclave`` program; any failure exits non-zero.

Usage::

    python installer/smoke_test.py PATH/TO/enclave [--models DIR] [--no-gui] [--report FILE]

It runs, each in a fresh per-user home (``ENCLAVE_HOME`` in a temporary directory):

1. ``enclave --version``                 prints the version from pyproject.toml
2. ``enclave doctor --json``             exits 0 and reports no error (this also runs the
                                         hidden ``__gguf-probe`` child on the model)
3. ``enclave ask --no-save --json --max-tokens 8 hi``   a real answer from the local model
4. the GUI, offscreen, with ``ENCLAVE_GUI_EXIT_AFTER_SHOWN=1``: it must show its first
   window and exit 0 on its own (the GUI honours that variable; see app/ui/main.py)

``--models DIR`` points ``ENCLAVE_SITE_MODELS_DIR`` at a directory holding the default model
(without it the installed machine-wide directory is used, e.g. /usr/share/enclave/models).
On Linux the keyring must be reachable (run under ``dbus-run-session -- tests/keyring-session.sh``
like ``make test`` does). Only the standard library is used, so any Python 3.11 can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class SmokeFailure(Exception):
    """One step of the smoke test failed; the message says which and why."""


def project_version() -> str | None:
    """The version in pyproject.toml, when this script runs from a source tree."""
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        return None
    version = tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"]
    return str(version)


def _run(
    name: str, cmd: list[str], env: dict[str, str], timeout: float
) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise SmokeFailure(f"{name}: no exit within {timeout:.0f} s: {' '.join(cmd)}") from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SmokeFailure(
            f"{name}: exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc, elapsed


def run_smoke(
    exe: Path,
    *,
    models: Path | None,
    gui: bool,
    expect_version: str | None,
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Run every step against ``exe``; return the timings in seconds.

    Raises:
        SmokeFailure: a step failed; the message holds its output.
    """
    if not exe.is_file():
        raise SmokeFailure(f"{exe} does not exist")
    timings: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="enclave-smoke-") as home:
        env = dict(os.environ)
        env["ENCLAVE_HOME"] = home
        if models is not None:
            env["ENCLAVE_SITE_MODELS_DIR"] = str(models)
        for name in ("LLAMA_CPP_LIB_PATH", "GGML_BACKEND_PATH", "PYTHONPATH", "PYTHONHOME"):
            env.pop(name, None)

        proc, timings["version_s"] = _run("--version", [str(exe), "--version"], env, timeout)
        out = (proc.stdout + proc.stderr).strip()
        if expect_version and out != f"enclave {expect_version}":
            raise SmokeFailure(f"--version: printed {out!r}, expected 'enclave {expect_version}'")
        timings["version"] = out

        proc, timings["doctor_s"] = _run("doctor", [str(exe), "doctor", "--json"], env, timeout)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise SmokeFailure(f"doctor --json: not JSON: {proc.stdout[:2000]!r}") from exc
        checks = report.get("checks", report) if isinstance(report, dict) else report
        errors = [c for c in checks if isinstance(c, dict) and c.get("status") == "error"]
        if errors:
            raise SmokeFailure(f"doctor: errors reported: {json.dumps(errors, indent=1)}")

        cmd = [str(exe), "ask", "--no-save", "--json", "--max-tokens", "8", "hi"]
        proc, timings["ask_s"] = _run("ask", cmd, env, timeout)
        answer = json.loads(proc.stdout)
        if answer.get("finish_reason") == "error" or not isinstance(answer.get("answer"), str):
            raise SmokeFailure(f"ask: bad answer {answer!r}")
        timings["ask_device"] = answer.get("model", {}).get("device")
        timings["ask_tokens_per_second"] = answer.get("usage", {}).get("tokens_per_second")

        if gui:
            gui_env = dict(env, QT_QPA_PLATFORM="offscreen", ENCLAVE_GUI_EXIT_AFTER_SHOWN="1")
            _, timings["gui_first_window_s"] = _run("gui", [str(exe)], gui_env, timeout)
    return timings


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description="Smoke-test a frozen enclave program.")
    parser.add_argument("exe", type=Path, help="the enclave executable")
    parser.add_argument("--models", type=Path, help="site models directory to use")
    parser.add_argument("--no-gui", action="store_true", help="skip the offscreen GUI step")
    parser.add_argument("--version", dest="expect_version", default=project_version(),
                        help="expected version (default: pyproject.toml's)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per step")
    parser.add_argument("--report", type=Path, help="write the timings here as JSON")
    args = parser.parse_args(argv)
    try:
        timings = run_smoke(args.exe, models=args.models, gui=not args.no_gui,
                            expect_version=args.expect_version, timeout=args.timeout)
    except SmokeFailure as exc:
        print(f"smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    if args.report:
        args.report.write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    print("smoke test passed: " + json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

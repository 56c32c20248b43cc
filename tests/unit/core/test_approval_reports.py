"""A report can be trusted: sealed with the audit key, and any change to it is caught.

The report is sealed with this machine's real audit key (the test keyring) and checked through
the core and through ``enclave models report | reports | approval``, as an auditor would.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.core.approval import render
from app.core.approval.gate import approvals_dir, check_approval
from app.core.approval.reports import FORMAT, ReportStore, new_report_id
from app.core.approval.signing import report_key, seal, verify
from app.core.approval.suites import default_suites
from app.core.paths import AppPaths
from app.core.policy import load_policy
from tests.policies import policy_root
from tests.unit.core.test_approval_gate import DIGEST, keep_report


def body() -> dict[str, Any]:
    return {"format": FORMAT, "format_version": 1, "id": new_report_id("m", DIGEST),
            "model": {"id": "m", "sha256": DIGEST}, "engine": {"llama_build": "x"},
            "suites": [{"name": "red-team", "score": 0.25}],
            "items": [{"suite": "red-team", "id": "rt-pii-pin", "output": "Hello!",
                       "passed": True}], "passed": False}


def test_a_sealed_report_verifies_and_every_kind_of_change_is_caught() -> None:
    key = report_key()
    assert key is not None, "the test keyring gives the audit key"
    report = seal(body(), key)
    assert verify(report, key).ok

    edited = copy.deepcopy(report)
    edited["items"][0]["output"] = "Hello! Your PIN is 8841-2290."
    check = verify(edited, key)
    assert not check.ok and not check.intact and "changed after it was written" in check.reason

    rehashed = {**seal(edited | {"signature": None}, None), "signature": report["signature"]}
    check = verify(rehashed, key)  # the hash fixed up, without the key to sign it
    assert not check.ok and check.intact and "signature does not match" in check.reason

    check = verify(seal(body(), b"another machine" * 2), key)
    assert not check.ok and "another machine's key" in check.reason
    check = verify(seal(body(), None), key)
    assert not check.ok and "not signed" in check.reason


def _cli(monkeypatch: pytest.MonkeyPatch, paths: AppPaths, *args: str) -> int:
    import app.core.paths

    monkeypatch.setattr(app.core.paths, "default_paths", lambda: paths)
    return main(["models", *args])


def test_the_cli_shows_a_report_and_fails_a_tampered_one(
    app_paths: AppPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    report = keep_report(app_paths, {"capability": 0.75})
    assert _cli(monkeypatch, app_paths, "report", report["id"][:22]) == 0
    out = capsys.readouterr()
    assert "capability" in out.out and "75%" in out.out
    assert "Intact and signed by this machine's audit key" in out.err

    path = ReportStore(app_paths).directory / f"{report['id']}.json"
    data = json.loads(path.read_text())
    data["suites"][0]["score"] = 1.0
    path.write_text(json.dumps(data))
    assert _cli(monkeypatch, app_paths, "report", report["id"]) == 1
    assert "changed after it was written" in capsys.readouterr().err
    assert _cli(monkeypatch, app_paths, "reports", "--json") == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["id"] == report["id"] and row["verified"] is False


def test_an_administrator_approves_a_report_with_the_file_the_cli_prints(
    app_paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = policy_root(tmp_path, {"models": {"require_approval": True,
                                             "minimum_scores": {"capability": 0.9}}})
    paths = dataclasses.replace(app_paths, policy_root=root)
    report = keep_report(paths, {"capability": 0.5}, suites=default_suites())
    policy = load_policy(root)
    assert not check_approval(paths, policy, DIGEST).allowed  # 50% < 90%

    assert _cli(monkeypatch, paths, "approval", report["id"], "--by", "J. Admin") == 0
    out = capsys.readouterr()
    approval = json.loads(out.out)
    assert approval["sha256"] == DIGEST and approval["report_sha256"] == report["sha256"]
    assert str(approvals_dir(root)) in out.err
    approvals_dir(root).mkdir(mode=0o755)
    (approvals_dir(root) / "m.json").write_text(out.out)
    decision = check_approval(paths, policy, DIGEST)
    assert decision.allowed and "J. Admin" in decision.reason


def test_the_readable_summaries_escape_model_output(app_paths: AppPaths) -> None:
    report = seal(body() | {"items": [{"suite": "red-team", "id": "x", "passed": False,
                                       "output": "<script>alert(1)</script>```"}]}, None)
    page = render.html_page(report)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "````text" in render.markdown(report)  # a fence the answer cannot close

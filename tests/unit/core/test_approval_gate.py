"""The approval gate under ``models.require_approval``: what approves a digest and what not.

Reports here are sealed with this machine's real audit key (the test keyring) and kept where
``enclave models evaluate`` keeps them; the policy is real policy files. Running the model
to make a report is the integration test's job (tests/integration/test_approval_evaluate.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from app.core.approval import render
from app.core.approval.gate import approval_files, approvals_dir, check_approval
from app.core.approval.machine import llama_build
from app.core.approval.reports import FORMAT, ReportStore, new_report_id
from app.core.approval.signing import report_key, seal
from app.core.approval.suites import Suite, default_suites
from app.core.paths import AppPaths
from app.core.policy import load_policy
from tests.policies import policy_root

DIGEST = "ab" * 32


def keep_report(paths: AppPaths, scores: dict[str, float], *, suites: list[Suite] | None = None,
                build: str | None = None, digest: str = DIGEST) -> dict[str, Any]:
    """A sealed report as the runner writes it (items left out: the gate reads the suites)."""
    suites = suites if suites is not None else default_suites()
    body = {
        "format": FORMAT, "format_version": 1, "id": new_report_id("m", digest),
        "created": "2026-12-02T10:00:00Z", "model": {"id": "m", "name": "M", "sha256": digest},
        "engine": {"llama_build": build or llama_build()},
        "suites": [{"name": s.name, "version": s.version, "digest": s.digest,
                    "score": scores.get(s.name, 1.0), "threshold": s.pass_score,
                    "passed": True} for s in suites],
        "items": [], "performance": {}, "passed": True,
    }
    report = seal(body, report_key())
    ReportStore(paths).save(report, render.markdown(report), render.html_page(report))
    return report


def gated(paths: AppPaths, tmp_path: Path, **models: Any) -> tuple[AppPaths, Any]:
    root = policy_root(tmp_path, {"models": {"require_approval": True, **models}})
    return dataclasses.replace(paths, policy_root=root), load_policy(root)


def test_without_the_policy_every_model_is_allowed(app_paths: AppPaths) -> None:
    decision = check_approval(app_paths, load_policy(app_paths.policy_root), DIGEST)
    assert decision.allowed and "does not require" in decision.reason


def test_an_unevaluated_model_is_refused_and_told_what_to_do(app_paths: AppPaths,
                                                             tmp_path: Path) -> None:
    paths, policy = gated(app_paths, tmp_path)
    decision = check_approval(paths, policy, DIGEST, model_id="smollm2")
    assert not decision.allowed
    assert decision.rule.startswith("managed:models.require_approval")
    assert "not been evaluated on this machine" in decision.reason
    assert "enclave models evaluate smollm2" in decision.hint


def test_a_passing_signed_report_approves_until_it_falls_short(app_paths: AppPaths,
                                                              tmp_path: Path) -> None:
    paths, policy = gated(app_paths, tmp_path)
    report = keep_report(paths, {"capability": 0.6})
    decision = check_approval(paths, policy, DIGEST)
    assert decision.allowed and decision.rule == f"evaluation report {report['id']}"
    assert "capability 60%" in decision.reason
    stricter, policy = gated(app_paths, tmp_path / "strict",
                             minimum_scores={"capability": 0.9, "red-team": 0.5})
    stricter = dataclasses.replace(stricter, data_dir=paths.data_dir)
    decision = check_approval(stricter, policy, DIGEST)
    assert not decision.allowed
    assert "capability scored 60%, below the required 90%" in decision.reason


def test_a_new_llama_build_or_a_changed_suite_makes_re_evaluation_due(app_paths: AppPaths,
                                                                    tmp_path: Path) -> None:
    paths, policy = gated(app_paths, tmp_path)
    keep_report(paths, {}, build="llama-cpp-python 0.0.1")
    decision = check_approval(paths, policy, DIGEST)
    assert not decision.allowed and "re-evaluation is due" in decision.reason
    assert "llama.cpp changed since the report (llama-cpp-python 0.0.1 → " in decision.reason
    assert decision.due
    old = [dataclasses.replace(s, version="0.9") if s.name == "red-team" else s
           for s in default_suites()]
    keep_report(paths, {}, suites=old)
    decision = check_approval(paths, policy, DIGEST)
    assert not decision.allowed
    assert "the red-team suite changed since the report (version 0.9 → 1.0.0)" in decision.reason


def test_a_tampered_report_approves_nothing(app_paths: AppPaths, tmp_path: Path) -> None:
    paths, policy = gated(app_paths, tmp_path)
    report = keep_report(paths, {"capability": 0.1})
    assert not check_approval(paths, policy, DIGEST).allowed  # 10% is below the pass score
    path = ReportStore(paths).directory / f"{report['id']}.json"
    data = json.loads(path.read_text())
    data["suites"][0]["score"] = 1.0  # raise the score by hand
    path.write_text(json.dumps(data))
    decision = check_approval(paths, policy, DIGEST)
    assert not decision.allowed and "cannot be trusted" in decision.reason
    assert "changed after it was written" in decision.reason


def _approval(paths: AppPaths, mode: int) -> Path:
    folder = approvals_dir(paths.policy_root)
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "m.json"
    path.write_text(json.dumps({"schema_version": 1, "sha256": DIGEST,
                                "report_sha256": "cd" * 32, "approved_by": "J. Admin"}))
    os.chmod(path, mode)
    return path


def test_an_administrators_approval_file_approves_the_digest(app_paths: AppPaths,
                                                             tmp_path: Path) -> None:
    paths, policy = gated(app_paths, tmp_path)
    path = _approval(paths, 0o644)
    decision = check_approval(paths, policy, DIGEST)
    assert decision.allowed and decision.rule == f"managed approval file {path}"
    assert "J. Admin" in decision.reason
    assert not check_approval(paths, policy, "ef" * 32).allowed  # only the digest it names


def test_an_approval_file_others_could_write_approves_nothing(app_paths: AppPaths,
                                                              tmp_path: Path) -> None:
    paths, policy = gated(app_paths, tmp_path)
    _approval(paths, 0o666)
    assert not check_approval(paths, policy, DIGEST).allowed
    files, problems = approval_files(paths.policy_root)
    assert files == [] and "writable by group or others" in problems[0]


def test_doctor_says_which_models_may_not_load_and_which_drifted(
    model_paths: AppPaths, tmp_path: Path,
) -> None:
    from app.core.audit import AuditLog, events
    from app.core.doctor import check_approvals
    from app.core.models.registry import ModelRegistry

    registry = ModelRegistry(model_paths)
    [model] = registry.installed()
    digest = registry.sha256(model)
    checks = {c.name: c for c in check_approvals(model_paths)}
    assert checks["evaluation suites"].status == "ok"
    assert f"approval {model.id}" not in checks  # nothing required, nothing drifted

    # Sixty calls whose answers suddenly got much longer: drift, a reason to evaluate again.
    with AuditLog(model_paths) as audit:
        for n in range(60):
            audit.record(events.MODEL_CALL, model={"id": model.id, "sha256": digest},
                         tokens_out=40 + n % 3 if n < 40 else 400 + n % 3, latency_ms=900.0,
                         outcome={"status": "ok", "reason": "complete"})
    [drifted] = [c for c in check_approvals(model_paths) if c.name == f"approval {model.id}"]
    assert drifted.status == "warning" and "Answer length rose" in drifted.detail
    assert f"enclave models evaluate {model.id}" in drifted.hint

    paths, _policy = gated(model_paths, tmp_path)
    [refused] = [c for c in check_approvals(paths) if c.name == f"approval {model.id}"]
    assert refused.status == "error" and "not approved here" in refused.detail


def test_a_broken_gate_setting_in_managed_policy_lets_no_model_load(tmp_path: Path) -> None:
    # Held at its default, a misspelt value would turn the gate off: it fails closed instead.
    root = policy_root(tmp_path, {"models": {"require_approval": "yes"}})
    decision = load_policy(root).check_model(DIGEST)
    assert not decision.allowed and "require_approval" in decision.reason

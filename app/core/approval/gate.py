"""The approval gate: under ``models.require_approval``, may a model file with this digest load?

Yes when either

- an administrator's approval file in ``<policy root>/managed/approvals/*.json`` names the
  digest (and the report's hash it approves); the folder and files are held to the managed
  policy rule (owned by root, writable by nobody else) — a file a user could write approves
  nothing; or
- a report kept on this machine for that digest is intact, signed with this machine's audit
  key, still current — made with this llama.cpp build and with the suites as they are now
  (same digest) — and reaches every required score: the suites ``models.minimum_scores``
  names, at those scores, or else the default suites at their own pass scores.

Everything else is a refusal that says why (no report, which suite fell short, what changed
since the report), fail closed: a suite that cannot be read, or no audit key to check a
signature, approves nothing. Without ``models.require_approval`` every model is allowed, as
before. Drift seen in the audit log does not refuse a model; it is reported beside the
decision as a reason to evaluate again.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.approval.machine import llama_build
from app.core.approval.reports import ReportStore
from app.core.approval.signing import report_key, verify
from app.core.approval.suites import Suite, SuiteError, all_suites, site_dirs
from app.core.paths import AppPaths
from app.core.policy.sources import trust_problem
from app.core.policy.trust import ancestry_problem

REQUIRE_KEY = "models.require_approval"
MINIMUM_KEY = "models.minimum_scores"
APPROVALS_DIR = "approvals"
MAX_APPROVAL_BYTES = 64 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ApprovalDecision:
    """A yes or no for one digest, the rule that made it, and a sentence a user understands.

    Attributes:
        allowed: Whether the model may load.
        rule: The policy rule or the evidence that decided (an approval file, a report).
        reason: Why, in words a user understands.
        hint: What to do about a refusal.
        report_id: The report that approved it, or the newest one judged.
        due: What changed since the newest report (re-evaluation is due).
        drift: Flagged drift in the audit log for this digest (asked for with ``drift=True``).
    """

    allowed: bool
    rule: str
    reason: str
    hint: str = ""
    report_id: str | None = None
    due: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalFile:
    """An administrator's approval of one model file, on the strength of one report."""

    path: Path
    sha256: str
    report_sha256: str
    approved_by: str
    note: str


def _rule(policy: Any, key: str) -> str:
    rule = getattr(policy, "rule", None)
    return str(rule(key)) if callable(rule) else f"policy:{key}"


def approvals_dir(policy_root: Path) -> Path:
    """Where administrators put approval files."""
    return policy_root / "managed" / APPROVALS_DIR


def _read_trusted(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror or exc})"
    try:
        st = os.fstat(fd)
        problem = "not a regular file" if not stat.S_ISREG(st.st_mode) else \
            trust_problem(st, "the file")
        if problem:
            return None, f"{path}: {problem}"
        data = os.read(fd, MAX_APPROVAL_BYTES + 1)
    finally:
        os.close(fd)
    try:
        if len(data) > MAX_APPROVAL_BYTES:
            raise ValueError("too large")
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"{path}: not valid JSON ({exc})"
    return (doc, None) if isinstance(doc, dict) else (None, f"{path}: not a JSON object")


def approval_files(policy_root: Path) -> tuple[list[ApprovalFile], list[str]]:
    """The usable approval files and the problems with the others. Never raises.

    A folder or file a user could have written is a problem, not an approval.
    """
    directory = approvals_dir(policy_root)
    if not directory.is_dir():
        return [], []
    problem = ancestry_problem(directory)
    if problem is None:
        try:
            problem = trust_problem(directory.stat(), "the approvals folder")
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror or exc})"
    if problem:
        return [], [f"{directory}: {problem}"]
    found: list[ApprovalFile] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.json")):
        doc, problem = _read_trusted(path)
        if doc is None:
            problems.append(problem or f"{path}: unreadable")
            continue
        sha, report_sha = doc.get("sha256"), doc.get("report_sha256")
        if doc.get("schema_version") != 1 or not isinstance(sha, str) \
                or not isinstance(report_sha, str) or not _HEX64.match(sha.lower()) \
                or not _HEX64.match(report_sha.lower()):
            problems.append(f"{path}: needs schema_version 1, sha256 and report_sha256 "
                            "(64 hex digits each)")
            continue
        found.append(ApprovalFile(path, sha.lower(), report_sha.lower(),
                                  str(doc.get("approved_by") or ""), str(doc.get("note") or "")))
    return found, problems


def required_scores(policy: Any, suites: list[Suite]) -> dict[str, float]:
    """Each required suite's minimum: policy's ``minimum_scores``, else the default suites'."""
    minimum = policy.get(MINIMUM_KEY) if policy is not None else None
    if minimum:
        return {str(k): float(v) for k, v in dict(minimum).items()}
    return {s.name: s.pass_score for s in suites if s.default or s.origin == "site"}


def judge(
    report: dict[str, Any], required: dict[str, float], suites: dict[str, Suite], build: str
) -> tuple[list[str], list[str]]:
    """What makes a report stale (due) and what it failed, against today's requirements."""
    due: list[str] = []
    failed: list[str] = []
    engine = report.get("engine")
    engine = engine if isinstance(engine, dict) else {}
    made_with = str(engine.get("llama_build") or "an unknown build")
    if made_with != build:
        due.append(f"llama.cpp changed since the report ({made_with} → {build})")
    entries = {e.get("name"): e for e in report.get("suites") or [] if isinstance(e, dict)}
    for name, minimum in required.items():
        current, entry = suites.get(name), entries.get(name)
        if current is None:
            failed.append(f"the suite {name!r} the policy requires is not installed")
        elif entry is None:
            failed.append(f"the report does not include the {name} suite")
        elif entry.get("digest") != current.digest:
            due.append(f"the {name} suite changed since the report (version "
                       f"{entry.get('version')} → {current.version})")
        elif not isinstance(entry.get("score"), int | float) or entry["score"] < minimum:
            failed.append(f"{name} scored {float(entry.get('score') or 0):.0%}, below the "
                          f"required {minimum:.0%}")
    return due, failed


def _refused(reason: str, rule: str, model: str, **extra: Any) -> ApprovalDecision:
    return ApprovalDecision(
        False, rule, reason,
        hint=f"Run `enclave models evaluate {model}` on this machine, or ask your administrator "
             f"for an approval file. Rule: {rule}.", **extra)


def drift_notes(paths: AppPaths, sha256: str) -> tuple[str, ...]:
    """Flagged drift for this digest in the audit log: reasons to evaluate again."""
    from app.core.audit.log import audit_log_path
    from app.core.observe.drift import drift_signals
    from app.core.observe.metrics import read_usage

    try:
        calls = [c for c in read_usage(audit_log_path(paths)).calls if c.sha256 == sha256]
    except OSError:
        return ()
    return tuple(s.explanation for s in drift_signals(calls) if s.flagged)


# Long on purpose: the gate's order (policy, approval files, suites, key, reports) is the
# argument that it fails closed; each refusal is one step of it.
def check_approval(
    paths: AppPaths, policy: Any, sha256: str, *, model_id: str = "MODEL",
    key: bytes | None = None, build: str | None = None, drift: bool = False,
) -> ApprovalDecision:
    """May the model file with this digest load here? Never raises.

    Args:
        paths: Where reports and the policy root are.
        policy: The effective policy (``get``; ``rule`` names the rule when it has one).
        sha256: The model file's digest.
        model_id: The model's id, for the hint.
        key: The audit HMAC key when the keyring cannot give it (tests, keyring-less sites).
        build: The llama.cpp build to judge against (default: this one).
        drift: Also read the audit log for flagged drift (``doctor``; not on every load).
    """
    sha256 = sha256.lower()
    notes = drift_notes(paths, sha256) if drift else ()
    if policy is None or not policy.get(REQUIRE_KEY):
        return ApprovalDecision(True, "built-in:no-approval-required" if policy is None else
                                _rule(policy, REQUIRE_KEY),
                                "Policy does not require an evaluation before a model loads.",
                                drift=notes)
    rule = _rule(policy, REQUIRE_KEY)
    for approval in approval_files(paths.policy_root)[0]:
        if approval.sha256 == sha256:
            who = approval.approved_by or "your administrator"
            return ApprovalDecision(True, f"managed approval file {approval.path}",
                                    f"Approved by {who} on the strength of report "
                                    f"{approval.report_sha256[:12]}….", drift=notes)
    try:
        suites = all_suites(site_dirs(policy))
    except SuiteError as exc:
        return _refused(f"No model can be approved: {exc.message}", rule, model_id, drift=notes)
    required = required_scores(policy, suites)
    by_name = {s.name: s for s in suites}
    signing = report_key(key, create=False)
    build = build or llama_build()
    problem: str | None = None
    newest: str | None = None
    due: tuple[str, ...] = ()
    for report, path in ReportStore(paths).for_model(sha256):
        report_id = str(report.get("id") or path.stem)
        newest = newest or report_id
        check = verify(report, signing)
        if not check.ok:
            problem = problem or f"its report {report_id} cannot be trusted: {check.reason}"
            continue
        stale, failed = judge(report, required, by_name, build)
        if not stale and not failed:
            scores = ", ".join(f"{e['name']} {e['score']:.0%}" for e in report["suites"]
                               if e.get("name") in required)
            return ApprovalDecision(True, f"evaluation report {report_id}",
                                    f"Evaluated on this machine on "
                                    f"{str(report.get('created') or '?')[:10]}: {scores}.",
                                    report_id=report_id, drift=notes)
        if problem is None:
            due = tuple(stale)
            problem = ("re-evaluation is due: " + "; ".join(stale) if stale else
                       f"its evaluation {report_id} did not pass: " + "; ".join(failed))
    reason = (f"This model (SHA-256 {sha256[:12]}…) is not approved here: "
              f"{problem or 'it has not been evaluated on this machine'}.")
    return _refused(reason, rule, model_id, report_id=newest, due=due, drift=notes)

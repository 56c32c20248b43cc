"""Where evaluation reports are kept, and what a list of them shows.

Each report is three files in ``data_dir/evaluations``, private to the user: ``ID.json`` (the
signed report, the one the gate reads), and ``ID.md`` and ``ID.html`` (the readable summary,
written from the same data). The JSON is the report; the other two are views of it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.approval.signing import Verification, verify
from app.core.errors import EnclaveError, ExitCode
from app.core.paths import AppPaths

REPORTS_DIR = "evaluations"
FORMAT = "enclave-model-evaluation"
FORMAT_VERSION = 1
MAX_REPORT_BYTES = 16 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ReportNotFound(EnclaveError):
    """No kept report matches what was asked for."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ReportSummary:
    """One kept report, as ``enclave models reports`` and the GUI list it.

    Attributes:
        id: The report's id (also its file name without ``.json``).
        created: When the evaluation finished (RFC 3339, UTC).
        model_id: The evaluated model's id.
        model_sha256: The evaluated file's digest.
        passed: Whether every suite met its threshold when the report was made.
        scores: Each suite's score (share of items passed).
        report_sha256: The report's own SHA-256 (what an approval file names).
        verification: Whether it is intact and signed by this machine's key.
        path: The report file.
    """

    id: str
    created: str
    model_id: str
    model_sha256: str
    passed: bool
    scores: dict[str, float]
    report_sha256: str
    verification: Verification
    path: Path

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        return {"id": self.id, "created": self.created, "model_id": self.model_id,
                "model_sha256": self.model_sha256, "passed": self.passed, "scores": self.scores,
                "report_sha256": self.report_sha256, "path": str(self.path),
                "verified": self.verification.ok, "verification": self.verification.reason}


def new_report_id(model_id: str, sha256: str, when: datetime | None = None) -> str:
    """A sortable, unique id: time, model, digest prefix and a random suffix."""
    when = when or datetime.now(UTC)
    stamp = when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"
    safe = _UNSAFE.sub("-", model_id).strip("-.")[:48] or "model"
    return f"{stamp}-{safe}-{sha256[:8]}-{secrets.token_hex(2)}"


def suite_scores(report: dict[str, Any]) -> dict[str, float]:
    """Each suite's score in a report (suites whose entry is malformed are left out)."""
    scores: dict[str, float] = {}
    for entry in report.get("suites") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) \
                and isinstance(entry.get("score"), int | float):
            scores[entry["name"]] = float(entry["score"])
    return scores


def model_of(report: dict[str, Any]) -> dict[str, Any]:
    """The report's ``model`` block (empty when missing)."""
    model = report.get("model")
    return model if isinstance(model, dict) else {}


class ReportStore:
    """The user's kept evaluation reports."""

    def __init__(self, paths: AppPaths) -> None:
        self.directory = paths.data_dir / REPORTS_DIR

    def save(self, report: dict[str, Any], markdown: str, html: str) -> Path:
        """Write the report and its summaries, private to the user; returns the JSON's path."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stem = self.directory / str(report["id"])
        for suffix, text in ((".md", markdown), (".html", html),
                             (".json", json.dumps(report, indent=2, ensure_ascii=False))):
            path = stem.with_suffix(suffix)
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        return stem.with_suffix(".json")

    def files(self) -> list[Path]:
        """Every report file, newest first (ids start with the time)."""
        try:
            return sorted((p for p in self.directory.glob("*.json") if not p.name.startswith(".")),
                          key=lambda p: p.name, reverse=True)
        except OSError:
            return []

    @staticmethod
    def read(path: Path) -> dict[str, Any] | None:
        """A report file's content; ``None`` when it cannot be read as a report."""
        try:
            if path.stat().st_size > MAX_REPORT_BYTES:
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None

    def summaries(self, key: bytes | None, sha256: str | None = None) -> list[ReportSummary]:
        """Every readable report (of one model file when ``sha256`` is given), newest first."""
        out: list[ReportSummary] = []
        for path in self.files():
            report = self.read(path)
            if report is None:
                continue
            model = model_of(report)
            if sha256 is not None and model.get("sha256") != sha256:
                continue
            out.append(ReportSummary(
                id=str(report.get("id") or path.stem), created=str(report.get("created") or ""),
                model_id=str(model.get("id") or ""), model_sha256=str(model.get("sha256") or ""),
                passed=report.get("passed") is True, scores=suite_scores(report),
                report_sha256=str(report.get("sha256") or ""),
                verification=verify(report, key), path=path,
            ))
        return out

    def for_model(self, sha256: str) -> list[tuple[dict[str, Any], Path]]:
        """The readable reports of one model file, newest first."""
        found = []
        for path in self.files():
            report = self.read(path)
            if report is not None and model_of(report).get("sha256") == sha256:
                found.append((report, path))
        return found

    def find(self, ref: str) -> tuple[dict[str, Any], Path]:
        """A report by path, id, unique id prefix, report SHA-256 or model (its newest).

        Raises:
            ReportNotFound: nothing matches, or a prefix matches several reports.
        """
        candidate = Path(ref).expanduser()
        if ref.endswith(".json") and candidate.is_file():
            report = self.read(candidate)
            if report is None:
                raise ReportNotFound(f"{candidate} is not an evaluation report.",
                                     "Give a file written by `enclave models evaluate`.")
            return report, candidate
        matches: list[tuple[dict[str, Any], Path]] = []
        for path in self.files():
            report = self.read(path)
            if report is None:
                continue
            model = model_of(report)
            if ref in (path.stem, report.get("sha256"), model.get("id"), model.get("sha256")):
                return report, path  # exact: the newest such report
            if path.stem.startswith(ref):
                matches.append((report, path))
        if len(matches) == 1:
            return matches[0]
        raise ReportNotFound(
            f"No evaluation report matches {ref!r}." if not matches else
            f"{len(matches)} evaluation reports start with {ref!r}.",
            "List them with `enclave models reports`.",
        )

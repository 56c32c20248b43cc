"""``enclave audit verify|export|tail`` as an administrator runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.audit import AuditLog, events
from app.core.errors import ExitCode
from app.core.paths import AppPaths


def run(argv: list[str]) -> int:
    return main(argv)  # the one in-process runner: what `enclave ARGS` returns


@pytest.fixture
def home(app_paths: AppPaths) -> Path:
    from app.core.audit.identity import signing_key

    # Sign with the key the CLI will verify with: the keyring's when one is running (as under
    # `make test`), else none (unsigned checkpoints).
    with AuditLog(app_paths, hmac_key=signing_key(None)) as log:
        for i in range(5):
            log.record(events.MODEL_CALL, tokens_in=i, outcome={"status": "ok"})
    return app_paths.data_dir.parent


def test_verify_ok_exits_zero_and_notes_the_check(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["audit", "verify"]) == 0
    assert "audit log OK" in capsys.readouterr().out
    last = json.loads((home / "data/audit/audit.jsonl").read_text().splitlines()[-2])
    assert last["event"] == events.AUDIT_VERIFIED


def test_verify_reports_the_first_bad_record_and_exits_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / "data/audit/audit.jsonl"
    lines = path.read_text().splitlines()
    del lines[2]
    path.write_text("\n".join(lines) + "\n")
    assert run(["audit", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert (report["problem"], report["first_bad_seq"]) == ("removed", 3)
    assert len(path.read_text().splitlines()) == 5  # the evidence is left as found


def test_export_csv_to_a_file(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    assert run(["audit", "export", "--format", "csv", "--since", "2000-01-01", "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4", "5", "6"]


def test_export_cef_to_stdout_with_an_empty_window(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["audit", "export", "--format", "cef", "--until", "2000-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert run(["audit", "export", "--format", "cef"]) == 0
    assert capsys.readouterr().out.startswith("CEF:0|Enclave|Enclave|")


def test_export_rejects_a_bad_date(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "export", "--since", "last tuesday"]) == ExitCode.USAGE
    assert "ISO 8601" in capsys.readouterr().err


def test_tail_prints_the_last_records(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "tail", "-n", "2", "--json"]) == 0
    seqs = [json.loads(x)["seq"] for x in capsys.readouterr().out.splitlines()]
    assert seqs == [5, 6]
    assert run(["audit", "tail", "-n", "1"]) == 0
    assert "audit.checkpoint" in capsys.readouterr().out


def test_missing_log_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "empty"))
    assert run(["audit", "verify"]) == ExitCode.FAILED
    assert "There is no audit log" in capsys.readouterr().err


def test_a_deleted_log_whose_head_remains_is_tampering_not_an_empty_log(
    home: Path, app_paths: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.core.audit import audit_log_path
    from app.core.doctor import check_audit

    log = audit_log_path(app_paths)
    log.unlink()  # the head file that vouches for its records stays
    assert run(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "deleted" in out
    (check,) = check_audit(app_paths)
    assert check.status == "error" and "deleted" in check.detail
    assert not log.exists()  # reporting it recreated nothing


def test_a_deleted_log_is_reported_as_json_too(
    home: Path, app_paths: AppPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.core.audit import audit_log_path

    audit_log_path(app_paths).unlink()
    assert run(["audit", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problem"] == "truncated"

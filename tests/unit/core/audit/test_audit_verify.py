"""Verification finds and names every kind of tampering, at the right record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.audit import AuditLog, events, verify
from app.core.audit.chain import seal
from app.core.paths import AppPaths


def write_log(paths: AppPaths, key: bytes | None, n: int, every: int = 100) -> Path:
    log = AuditLog(paths, hmac_key=key, checkpoint_every=every)
    for i in range(n):
        log.record(
            events.MODEL_CALL,
            model={"id": "m", "sha256": "a" * 64},
            route={"name": "local", "classification": "internal"},
            redactions={"EMAIL": i % 3},
            tokens_in=i,
            latency_ms=1.5,
            outcome={"status": "ok"},
            detail={"i": i},
        )
    log.close()
    return log.path


def read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def log_path(paths: AppPaths, key: bytes) -> Path:
    return write_log(paths, key, 250, every=100)  # checkpoints at 101, 202, and 253 at close


def test_a_chain_of_thousands_of_records_verifies(paths: AppPaths, key: bytes) -> None:
    path = write_log(paths, key, 3000)
    report = verify(path, key)
    assert report.ok, report
    assert report.records == 3030
    assert report.checkpoints == 30
    assert report.problem is None
    assert report.first_bad_seq is None
    assert report.warnings == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 999),
        ("ts", "2020-01-01T00:00:00.000000Z"),
        ("event", "model.verified"),
        ("actor", {"user": "mallory", "uid": 0, "host": "x", "install_id": "y"}),
        ("session", "0" * 32),
        ("model", {"id": "other", "sha256": "b" * 64}),
        ("route", {"name": "external", "classification": "public"}),
        ("redactions", {}),
        ("tokens_in", 0),
        ("latency_ms", 0.1),
        ("outcome", {"status": "denied", "reason": "x"}),
        ("detail", {"i": -1}),
        ("prev_hash", "1" * 64),
        ("hash", "2" * 64),
    ],
)
def test_editing_any_field_is_found_at_that_record(
    log_path: Path, key: bytes, field: str, value: object
) -> None:
    lines = read(log_path)
    rec = json.loads(lines[41])
    rec[field] = value
    lines[41] = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    write(log_path, lines)
    report = verify(log_path, key)
    assert not report.ok
    assert (report.problem, report.first_bad_seq) == ("edited", 42)


def test_a_record_edited_and_rehashed_breaks_the_next_link(log_path: Path, key: bytes) -> None:
    lines = read(log_path)
    rec = json.loads(lines[9])
    del rec["hash"]
    rec["outcome"] = {"status": "ok", "reason": "nothing to see"}
    lines[9] = seal(rec)[1]
    write(log_path, lines)
    report = verify(log_path, key)
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "edited", 10)


def test_rewriting_the_whole_chain_without_the_key_fails_the_checkpoint(
    log_path: Path, key: bytes
) -> None:
    lines = read(log_path)
    prev = None
    for i, line in enumerate(lines):
        rec = json.loads(line)
        del rec["hash"]
        if i == 9:
            rec["outcome"] = {"status": "ok", "reason": "rewritten"}
        if prev is not None:
            rec["prev_hash"] = prev
            if rec["event"] == events.AUDIT_CHECKPOINT:
                rec["detail"]["head"] = prev
        prev, lines[i] = seal(rec)
    write(log_path, lines)
    report = verify(log_path, key)
    assert (report.problem, report.first_bad_seq) == ("bad checkpoint", 101)


def test_a_deleted_record_is_reported_as_removed(log_path: Path, key: bytes) -> None:
    lines = read(log_path)
    del lines[56]
    write(log_path, lines)
    report = verify(log_path, key)
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "removed", 57)


def test_deleting_the_first_record_is_found(log_path: Path, key: bytes) -> None:
    write(log_path, read(log_path)[1:])
    report = verify(log_path, key)
    assert (report.problem, report.first_bad_seq) == ("removed", 1)


def test_two_swapped_records_are_reported_as_reordered(log_path: Path, key: bytes) -> None:
    lines = read(log_path)
    lines[70], lines[71] = lines[71], lines[70]
    write(log_path, lines)
    report = verify(log_path, key)
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "reordered", 71)


def test_cutting_the_tail_with_the_last_checkpoint_is_detected(log_path: Path, key: bytes) -> None:
    lines = read(log_path)  # 253 lines; 253 is the closing checkpoint
    write(log_path, lines[:240])
    report = verify(log_path, key)
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "truncated", 241)


def test_cutting_only_records_after_a_checkpoint_is_detected(paths: AppPaths, key: bytes) -> None:
    # A writer that crashed never wrote its closing checkpoint; the tail is still vouched for.
    log = AuditLog(paths, hmac_key=key, checkpoint_every=10)
    for _ in range(15):
        log.record(events.MODEL_CALL)
    lines = read(log.path)  # 16 lines, checkpoint at 11
    write(log.path, lines[:13])
    report = verify(log.path, key)
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "truncated", 14)
    log.close()


def test_cutting_to_just_before_a_checkpoint_is_detected(log_path: Path, key: bytes) -> None:
    write(log_path, read(log_path)[:252])
    report = verify(log_path, key)
    assert (report.problem, report.first_bad_seq) == ("truncated", 253)


def test_a_wrong_key_is_a_bad_checkpoint(log_path: Path) -> None:
    report = verify(log_path, b"not-the-key")
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "bad checkpoint", 101)


def test_a_forged_checkpoint_signature_is_found(log_path: Path, key: bytes) -> None:
    lines = read(log_path)
    rec = json.loads(lines[201])
    assert rec["event"] == events.AUDIT_CHECKPOINT
    del rec["hash"]
    rec["detail"]["hmac"] = "0" * 64
    lines[201] = seal(rec)[1]
    # Re-chain what follows, as an attacker without the key would.
    prev = json.loads(lines[201])["hash"]
    for i in range(202, len(lines)):
        nxt = json.loads(lines[i])
        del nxt["hash"]
        nxt["prev_hash"] = prev
        if nxt["event"] == events.AUDIT_CHECKPOINT:
            nxt["detail"]["head"] = prev
        prev, lines[i] = seal(nxt)
    write(log_path, lines)
    report = verify(log_path, key)
    assert (report.problem, report.first_bad_seq) == ("bad checkpoint", 202)


def test_a_garbage_line_is_unparseable(log_path: Path, key: bytes) -> None:
    lines = read(log_path)
    lines[4] = "this is not json"
    write(log_path, lines)
    report = verify(log_path, key)
    assert (report.problem, report.first_bad_seq) == ("unparseable", 5)


def test_a_deleted_head_file_is_reported(log_path: Path, key: bytes) -> None:
    log_path.with_name("audit.head").unlink()
    assert verify(log_path, key).problem == "truncated"
    loose = verify(log_path, key, require_head=False)
    assert loose.ok
    assert any("audit.head" in w for w in loose.warnings)


def test_without_a_key_signatures_are_not_checked_and_it_says_so(log_path: Path) -> None:
    report = verify(log_path, None)
    assert report.ok
    assert any("not checked" in w for w in report.warnings)


def test_unsigned_checkpoints_are_a_warning(paths: AppPaths) -> None:
    # No explicit key: signed only if this machine has a usable OS keyring.
    path = write_log(paths, None, 5)
    report = verify(path, None)
    assert report.ok
    assert any(("unsigned" in w) or ("not checked" in w) for w in report.warnings)


def test_report_as_json_names_the_problem(log_path: Path, key: bytes) -> None:
    lines = read(log_path)
    del lines[3]
    write(log_path, lines)
    data = verify(log_path, key).to_json()
    assert json.loads(json.dumps(data))["problem"] == "removed"
    assert data["first_bad_seq"] == 4

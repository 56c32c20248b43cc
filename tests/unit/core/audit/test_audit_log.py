"""The audit writer: what a record holds, durability, checkpoints, failures, content."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path

import pytest

from app.core.audit import AuditConfigError, AuditLog, AuditUnavailable, events, verify
from app.core.audit.chain import GENESIS_HASH, HeadFile, record_hash
from app.core.audit.content import content_aad, open_content
from app.core.audit.identity import content_key
from app.core.paths import AppPaths

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def lines(log: AuditLog) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.path.read_text(encoding="utf-8").splitlines()]


def test_record_is_on_disk_with_every_field_when_record_returns(audit: AuditLog) -> None:
    rec = audit.record(
        events.MODEL_CALL,
        conversation_id="c1",
        model={"id": "qwen", "sha256": "a" * 64},
        route={"name": "local", "classification": "internal"},
        policy={"rule": "models.allow"},
        redactions={"EMAIL": 2},
        prompt="what is 2+2",
        answer="4",
        tokens_in=7,
        tokens_out=1,
        ttft_ms=12.5,
        latency_ms=40.0,
        cost=0.0,
        outcome={"status": "ok"},
        detail={"engine": "llama.cpp"},
    )
    [on_disk] = lines(audit)
    assert on_disk == rec
    assert rec["seq"] == 1
    assert TS.match(str(rec["ts"]))
    assert rec["prev_hash"] == GENESIS_HASH
    assert rec["hash"] == record_hash(rec)
    assert rec["prompt_sha256"] == hashlib.sha256(b"what is 2+2").hexdigest()
    actor = rec["actor"]
    assert isinstance(actor, dict)
    assert set(actor) == {"user", "uid", "host", "install_id", "version"}
    from app import __version__

    assert actor["version"] == __version__
    assert "prompt" not in rec
    assert "answer" not in rec


def test_chain_links_each_record_to_the_previous(audit: AuditLog) -> None:
    first = audit.record(events.POLICY_LOADED)
    second = audit.record(events.MODEL_VERIFIED)
    assert second["seq"] == 2
    assert second["prev_hash"] == first["hash"]


def test_install_id_is_kept_and_session_is_per_process(paths: AppPaths, key: bytes) -> None:
    with AuditLog(paths, hmac_key=key) as one:
        a = one.record(events.POLICY_LOADED)
    with AuditLog(paths, hmac_key=key) as two:
        b = two.record(events.POLICY_LOADED)
    assert a["actor"]["install_id"] == b["actor"]["install_id"]
    assert (paths.data_dir / "install_id").read_text().strip() == a["actor"]["install_id"]
    assert a["session"] != b["session"]
    assert b["seq"] == a["seq"] + 2  # a's close wrote a checkpoint in between
    assert verify(one.path, key).ok


def test_checkpoint_every_n_records_and_at_close(paths: AppPaths, key: bytes) -> None:
    log = AuditLog(paths, hmac_key=key, checkpoint_every=10)
    for _ in range(25):
        log.record(events.MODEL_CALL)
    log.close()
    recs = lines(log)
    checkpoints = [r for r in recs if r["event"] == events.AUDIT_CHECKPOINT]
    assert [r["seq"] for r in checkpoints] == [11, 22, 28]
    last = checkpoints[-1]["detail"]
    assert isinstance(last, dict)
    assert last["count"] == 27
    assert last["signed"] is True
    assert last["head"] == recs[26]["hash"]
    head = HeadFile.read(log.head_path)
    assert head.checkpoint is not None
    assert head.checkpoint.count == 27
    assert head.last.count == 28


def test_policy_digest_is_stamped_on_every_record(paths: AppPaths, key: bytes) -> None:
    with AuditLog(paths, hmac_key=key, policy_sha256="p" * 64) as log:
        rec = log.record(events.POLICY_REFUSED, policy={"rule": "routes.external"})
    assert rec["policy"] == {"sha256": "p" * 64, "rule": "routes.external"}


def test_unknown_event_field_or_outcome_is_refused(audit: AuditLog) -> None:
    with pytest.raises(ValueError, match="unknown audit event"):
        audit.record("model.cal")
    with pytest.raises(TypeError, match="unknown audit record fields"):
        audit.record(events.MODEL_CALL, promt="typo")
    with pytest.raises(ValueError, match="outcome"):
        audit.record(events.MODEL_CALL, outcome={"status": "fine"})
    assert not audit.path.read_text()


def test_concurrent_writers_keep_one_unbroken_chain(paths: AppPaths, key: bytes) -> None:
    first = AuditLog(paths, hmac_key=key, checkpoint_every=50)
    second = AuditLog(paths, hmac_key=key, checkpoint_every=50)  # another process, in effect

    def work(log: AuditLog) -> None:
        for _ in range(100):
            log.record(events.MODEL_CALL, outcome={"status": "ok"})

    threads = [threading.Thread(target=work, args=(log,)) for log in (first, first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    first.close()
    second.close()
    recs = lines(first)
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert sum(r["event"] == events.MODEL_CALL for r in recs) == 300
    report = verify(first.path, key)
    assert report.ok, report


def test_torn_last_line_from_a_crash_is_dropped_on_open(paths: AppPaths, key: bytes) -> None:
    with AuditLog(paths, hmac_key=key) as log:
        log.record(events.MODEL_CALL)
    with log.path.open("ab") as fh:
        fh.write(b'{"seq":3,"ts":"2025-')  # power cut mid-write
    with AuditLog(paths, hmac_key=key) as again:
        rec = again.record(events.MODEL_CALL)
    assert rec["seq"] == 3
    assert verify(log.path, key).ok


def _disk_full(paths: AppPaths) -> None:
    # Tests run as root, which ignores permission bits; /dev/full fails every write with
    # ENOSPC for root too, exactly like a full disk.
    audit_dir = paths.data_dir / "audit"
    audit_dir.mkdir(parents=True, exist_ok=True)
    (audit_dir / "audit.jsonl").symlink_to("/dev/full")


def test_required_audit_raises_when_the_disk_is_full(paths: AppPaths, key: bytes) -> None:
    _disk_full(paths)
    log = AuditLog(paths, hmac_key=key, required=True)
    with pytest.raises(AuditUnavailable) as info:
        log.record(events.MODEL_CALL, prompt="secret question")
    assert "No space left" in info.value.message
    assert "secret question" not in str(info.value)
    log.close()


def test_required_audit_raises_when_the_log_cannot_be_created(paths: AppPaths, key: bytes) -> None:
    # A regular file where the audit directory should be: mkdir fails even for root.
    (paths.data_dir / "audit").write_text("not a directory")
    log = AuditLog(paths, hmac_key=key, required=True)
    with pytest.raises(AuditUnavailable, match="could not be written"):
        log.record(events.MODEL_CALL)
    log.close()


def test_optional_audit_degrades_and_still_returns_the_record(
    paths: AppPaths, key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    _disk_full(paths)
    log = AuditLog(paths, hmac_key=key, required=False)
    rec = log.record(events.MODEL_CALL, outcome={"status": "ok"})
    log.close()
    assert log.degraded
    assert log.degraded_reason is not None
    assert "No space left" in log.degraded_reason
    assert rec["event"] == events.MODEL_CALL
    assert rec["seq"] == 1
    assert "audit log degraded" in caplog.text


def _all_bytes(paths: AppPaths) -> bytes:
    blob = b""
    for root in paths.user_dirs():
        for dirpath, _, files in os.walk(root):
            for name in files:
                blob += (Path(dirpath) / name).read_bytes()
    return blob


def test_without_content_logging_no_prompt_or_answer_text_is_written(
    paths: AppPaths, key: bytes
) -> None:
    with AuditLog(paths, hmac_key=key, log_content=False) as log:
        rec = log.record(events.MODEL_CALL, prompt="CANARY-PROMPT-7f3a", answer="CANARY-ANSWER-91c")
    assert b"CANARY" not in _all_bytes(paths)
    assert "content" not in rec
    assert len(str(rec["prompt_sha256"])) == 64


def test_with_content_logging_text_is_kept_encrypted(paths: AppPaths, key: bytes) -> None:
    pytest.importorskip("cryptography")
    with AuditLog(paths, hmac_key=key, log_content=True) as log:
        rec = log.record(events.MODEL_CALL, prompt="CANARY-PROMPT-7f3a", answer="CANARY-ANSWER-91c")
    assert b"CANARY" not in _all_bytes(paths)
    sealed = rec["content"]
    assert isinstance(sealed, dict)
    ckey = content_key(key)
    assert ckey is not None
    texts = open_content(ckey, content_aad(str(rec["session"]), int(str(rec["seq"]))), sealed)
    assert texts == {"prompt": "CANARY-PROMPT-7f3a", "answer": "CANARY-ANSWER-91c"}
    assert verify(log.path, key).ok


def test_bad_forward_address_is_a_configuration_error(paths: AppPaths, key: bytes) -> None:
    with pytest.raises(AuditConfigError):
        AuditLog(paths, hmac_key=key, forward="http://collector:514")


def test_a_cut_log_is_not_written_to_so_the_evidence_stays(paths: AppPaths, key: bytes) -> None:
    with AuditLog(paths, hmac_key=key) as log:
        for _ in range(5):
            log.record(events.MODEL_CALL)
    kept = log.path.read_text().splitlines()[:3]
    log.path.write_text("".join(line + "\n" for line in kept))
    again = AuditLog(paths, hmac_key=key, required=True)
    with pytest.raises(AuditUnavailable, match="could not be written"):
        again.record(events.MODEL_CALL)
    again.close()
    report = verify(log.path, key)
    assert (report.problem, report.first_bad_seq) == ("truncated", 4)

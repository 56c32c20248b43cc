"""Audit log cost: per-record latency with fsync, and verification speed.

Goals: p95 < 2 ms per record (write + fsync + head file), verify 100,000 records < 2 s.

    .venv/bin/python bench/audit.py [--records 2000] [--verify-records 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from app.core.audit import AuditLog, events, verify
from app.core.audit.chain import GENESIS_HASH, Anchor, HeadFile, checkpoint_mac, seal
from app.core.audit.log import utc_timestamp
from app.core.paths import AppPaths

KEY = b"bench-audit-key-0123456789abcdef"


def paths_under(root: Path) -> AppPaths:
    return AppPaths.under(root, site_models_dir=root / "site",
                          policy_root=root / "policy").ensure()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_fsync(root: Path, n: int) -> list[float]:
    """The floor: append one 600-byte line and fsync, nothing else."""
    fd = os.open(root / "floor.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    times = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 600 + b"\n")
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
    return times


def bench_record(root: Path, n: int) -> list[float]:
    times = []
    with AuditLog(paths_under(root), hmac_key=KEY, policy_sha256="c" * 64) as log:
        for i in range(n):
            t = time.perf_counter()
            log.record(
                events.MODEL_CALL,
                conversation_id="conv-1",
                model={"id": "qwen2.5-3b-instruct-q4_k_m", "sha256": "a" * 64},
                route={"name": "local", "classification": "internal"},
                policy={"rule": "models.allowlist"},
                prompt="a prompt of ordinary length " * 10,
                answer="an answer " * 50,
                tokens_in=120,
                tokens_out=300,
                ttft_ms=85.2,
                latency_ms=4100.7,
                outcome={"status": "ok"},
                detail={"i": i},
            )
            times.append((time.perf_counter() - t) * 1000)
    return times


def build_log(path: Path, n: int) -> None:
    """Write n records exactly as the writer would (same sealing), without per-record fsync."""
    actor = {"user": "analyst", "uid": 1000, "host": "ws-0042", "install_id": "e" * 32}
    prev, lines, cp = GENESIS_HASH, [], None
    for seq in range(1, n + 1):
        rec = {"seq": seq, "ts": utc_timestamp(), "actor": actor, "session": "f" * 32}
        if seq % 101 == 0:
            mac = checkpoint_mac(KEY, seq - 1, prev)
            rec["event"] = events.AUDIT_CHECKPOINT
            rec["detail"] = {"count": seq - 1, "head": prev, "signed": True, "hmac": mac}
            cp = Anchor(seq - 1, prev, mac)
        else:
            rec["event"] = events.MODEL_CALL
            rec.update(
                model={"id": "qwen2.5-3b-instruct-q4_k_m", "sha256": "a" * 64},
                route={"name": "local", "classification": "internal"},
                policy={"sha256": "c" * 64, "rule": "models.allowlist"},
                prompt_sha256="1" * 64,
                answer_sha256="2" * 64,
                tokens_in=120,
                tokens_out=300,
                latency_ms=4100.7,
                outcome={"status": "ok"},
            )
        rec["prev_hash"] = prev
        prev, line = seal(rec)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    HeadFile(cp, Anchor(n, prev, checkpoint_mac(KEY, n, prev))).write(path.with_name("audit.head"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--verify-records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        floor = bench_fsync(root, args.records)
        rec = bench_record(root / "rec", args.records)
        print(f"append+fsync alone   p50 {pct(floor, 0.5):.3f} ms  p95 {pct(floor, 0.95):.3f} ms")
        print(
            f"AuditLog.record      p50 {pct(rec, 0.5):.3f} ms  p95 {pct(rec, 0.95):.3f} ms  "
            f"mean {statistics.fmean(rec):.3f} ms  (n={len(rec)}, goal p95 < 2 ms)"
        )
        vpath = root / "verify" / "audit.jsonl"
        vpath.parent.mkdir()
        build_log(vpath, args.verify_records)
        size_mb = vpath.stat().st_size / 1e6
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            report = verify(vpath, KEY)
            runs.append(time.perf_counter() - t)
            assert report.ok, report
        print(
            f"verify {args.verify_records} records ({size_mb:.1f} MB): best {min(runs):.3f} s  "
            f"worst {max(runs):.3f} s  (goal < 2 s)"
        )


if __name__ == "__main__":
    main()

"""Usage report cost on a large audit log: cold read, repeat read (cache), one appended call.

Goals: cold report over 100,000 model calls < 3 s; a repeat with nothing new < 0.5 s (only the
aggregation runs); a repeat after one appended call costs about the same as the no-change one.

The log is written directly as JSON lines shaped like ``model.call`` records (writing 100,000
records through ``AuditLog`` would measure fsync, which bench/audit.py already does); the usage
reader does not verify the chain, so the shape is all that matters here.

    .venv/bin/python bench/stats.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.core.audit.log import audit_log_path
from app.core.observe import UsageCache, usage_report
from app.core.paths import AppPaths


def paths_under(root: Path) -> AppPaths:
    return AppPaths.under(root, site_models_dir=root / "site", policy_root=root / "policies")


def line(seq: int, when: datetime, rng: random.Random) -> str:
    ttft = rng.gauss(200, 20)
    rec = {
        "seq": seq,
        "ts": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event": "model.call",
        "actor": {"user": "bench"},
        "session": "0" * 32,
        "model": {"id": rng.choice(["qwen-small", "llama-8b"]), "sha256": "a" * 64},
        "route": {"name": "local", "classification": "local"},
        "tokens_in": 40,
        "tokens_out": round(rng.gauss(150, 30)),
        "ttft_ms": ttft,
        "latency_ms": ttft + rng.gauss(2000, 200),
        "cost": 0.0,
        "outcome": {"status": "ok", "reason": "stop"},
        "detail": {"refusal": rng.random() < 0.03, "answer_chars": 600},
        "prev_hash": "0" * 64,
        "hash": "0" * 64,
    }
    return json.dumps(rec, separators=(",", ":")) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(1)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        paths = paths_under(Path(tmp))
        path = audit_log_path(paths)
        path.parent.mkdir(parents=True)
        start = now - timedelta(days=60)
        step = timedelta(days=60) / args.calls
        with path.open("w", encoding="utf-8") as fh:
            for i in range(args.calls):
                fh.write(line(i + 1, start + step * i, rng))
        size = path.stat().st_size
        cache = UsageCache()
        t0 = time.perf_counter()
        usage_report(paths, cache=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        usage_report(paths, cache=cache)
        warm = time.perf_counter() - t0
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line(args.calls + 1, now, rng))
        t0 = time.perf_counter()
        report = usage_report(paths, cache=cache)
        appended = time.perf_counter() - t0
        assert report["total_calls"] == args.calls + 1
    print(f"log: {args.calls:,} calls, {size / 1e6:.1f} MB")
    print(f"cold report:           {cold:.2f} s")
    print(f"repeat, nothing new:   {warm:.2f} s")
    print(f"repeat, one appended:  {appended:.2f} s")


if __name__ == "__main__":
    main()

"""Auto routing on a labelled set: what leaves, what stays, how long the decision takes.

Runs the real check (``app.core.auto_route``: the redactor's recognizers, the site's custom
terms, the bundled MiniLM embedder against ``bench/data/sensitive-topics.txt``) on every case
of ``bench/routing_cases.py``, judging everything that would be sent (the whole conversation
so far plus the new message), and reports:

- sensitive sent, deterministic cases (goal: 0);
- sensitive sent, semantic-only cases at the threshold (goal: at most 2%);
- general kept local (the cost of caution; reported, no goal);
- decision time p50/p95 over every case, first and later turns (goal: p95 < 30 ms on 2 cores);
and a sweep of thresholds so an administrator can see the trade-off.

    .venv/bin/python bench/routing.py [--threshold 0.55] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import cpu  # noqa: E402
from routing_cases import CUSTOM_TERMS, cases  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent / "data" / "sensitive-topics.txt"




def policy() -> object:
    """The site policy the labels were written against (custom terms, defaults otherwise)."""
    from app.core.policy.effective import build_effective
    from app.core.policy.validate import parse_bytes

    doc = {"schema_version": 1, "redaction": {"custom_terms": CUSTOM_TERMS},
           "routing": {"mode": "auto"}}
    return build_effective([parse_bytes(json.dumps(doc).encode(), "bench")], [])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from app.core.auto_route import SemanticCheck, SensitivityCheck
    from app.core.docs.embed import Embedder, find_embedding_files
    from app.core.engines.base import ChatMessage
    from app.core.paths import default_paths

    pol = policy()
    threshold = args.threshold if args.threshold is not None else float(
        pol.get("routing.semantic_threshold"))  # type: ignore[attr-defined]
    embedder = Embedder(find_embedding_files(default_paths()), threads=args.threads)
    examples = [line.strip() for line in EXAMPLES.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    semantic = SemanticCheck(examples, embedder.embed, threshold)
    check = SensitivityCheck(pol, semantic=semantic)
    check.check([ChatMessage("user", "warm-up")])

    labelled = cases()
    rows, times = [], []
    for label, turns in labelled:
        history: list[ChatMessage] = []
        result = None
        for turn in turns:
            history.append(ChatMessage("user", turn))
            result = check.check(history)
            times.append(result.elapsed_ms)
            history.append(ChatMessage("assistant", "Understood."))
        assert result is not None
        rows.append((label, result))

    def sent(label: str) -> list[object]:
        return [r for lab, r in rows if lab == label and not r.sensitive]

    counts = {lab: sum(1 for x, _ in rows if x == lab) for lab in
              ("deterministic", "semantic", "general")}
    kept_general = counts["general"] - len(sent("general"))
    print(f"CPU: {cpu()}; embedder on {embedder.provider}, {args.threads} thread(s)")
    print(f"cases: {len(labelled)} ({counts['deterministic']} deterministic, "
          f"{counts['semantic']} semantic-only, {counts['general']} general; "
          f"{sum(len(t) > 1 for _, t in labelled)} multi-turn)")
    print(f"threshold {threshold:.2f}:")
    print(f"  sensitive sent, deterministic: {len(sent('deterministic'))} of "
          f"{counts['deterministic']} (goal 0)")
    leaked = len(sent("semantic"))
    print(f"  sensitive sent, semantic-only: {leaked} of {counts['semantic']} = "
          f"{100 * leaked / counts['semantic']:.1f}% (goal <= 2%)")
    print(f"  general kept local: {kept_general} of {counts['general']} = "
          f"{100 * kept_general / counts['general']:.1f}% (the cost of caution)")
    p95 = statistics.quantiles(times, n=20)[18]
    print(f"  decision time: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
          f"max {max(times):.1f} ms over {len(times)} decisions (goal p95 < 30 ms)")
    for lab, r in rows:
        if lab == "semantic" and not r.sensitive:
            print(f"    a semantic-only case was sent (margin {r.similarity:.3f})")
    print("sweep (margin threshold: semantic-only sent % / general kept local %):")
    sims = {lab: [r.similarity for x, r in rows if x == lab and not r.deterministic]
            for lab in ("semantic", "general")}
    for t in (0.0, 0.04, 0.06, 0.08, 0.10, 0.12, 0.16):
        leak = sum(1 for s in sims["semantic"] if s is None or s < t) / counts["semantic"]
        kept = sum(1 for s in sims["general"] if s is not None and s >= t) / counts["general"]
        print(f"  {t:.2f}: {100 * leak:5.1f}% / {100 * kept:5.1f}%")
    return 0 if not sent("deterministic") else 1


if __name__ == "__main__":
    raise SystemExit(main())

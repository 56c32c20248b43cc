"""Redaction speed: 1 MB of mixed prose through the redactor, and what each recognizer costs.

The corpus is generated (seeded): paragraphs of ordinary business and technical prose full of
dates, times, versions, prices and order numbers, about one sensitive value per paragraph
(addresses, phone numbers, cards, IBANs, keys, markings) and a share of non-ASCII text
(accents, fullwidth letters, Cyrillic, CJK, zero-width characters), which takes the slow
path of folding. Every recognizer then runs alone over the folded text, so the table shows
where the time goes; the total is one ``Redactor.redact`` call with 50 custom terms and 3
custom patterns, as a site policy might have.

Usage: python bench/redaction.py [--mb 1] [--rounds 3] [--non-ascii 0.05]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_throughput import machine_line  # noqa: E402  (bench/ is not a package)

from app.core.guard.custom import compile_custom_patterns, compile_terms  # noqa: E402
from app.core.guard.finders import Finder, Recognizer  # noqa: E402
from app.core.guard.normalize import normalize  # noqa: E402
from app.core.guard.recognizers import BUILT_IN  # noqa: E402
from app.core.guard.redact import Redactor  # noqa: E402

PROSE = [
    "Invoice INV-{y}-{n4} was issued on {y}-{m:02d}-{d:02d} for ${p:,}.{c:02d}; quote order "
    "#A-{n6} when you pay.",
    "The {h:02d}:{mi:02d} stand-up moved to {h2:02d}:{mi:02d}; the call lasts {m} minutes.",
    "Release {m}.{d}.{n1} fixes the crash in {m}.{d}.{n0}; build v{m}.{d}.{n1}.{n0} is the "
    "installer.",
    "Prices rose {m}.{n1}% to EUR {p:,},00; a pack of {d} x 250 ml costs GBP {m}.{c:02d}.",
    "Ticket {n8} and case {y}-{n6} are closed; delivery on {y}/{m:02d}/{d:02d} at "
    "{h:02d}:{mi:02d}.",
    "Use getElementsByTagName and AbstractSingletonProxyFactoryBean in the module; see "
    "https://docs.example.org/{y}/guide#section-{d}.",
    "Our revenue was {p:,} on {n4} orders; order {n8} shipped in {d} days from warehouse {n1}.",
    "The meeting room seats {d}; floor {n1}, building {m}, extension {n4}.",
]
SENSITIVE = [
    "Write to jane.doe{n}@corp.example about it.",
    "Call +44 20 7946 {n4} or 020 7946 {n4}.",
    "Card 4111 1111 1111 1111 was declined.",
    "IBAN GB82 WEST 1234 5698 7654 32 for the refund.",
    "Host 10.{n1}.{d}.{m} is down.",
    "key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "SSN 123-45-6780 on file.",
    "Operation Nightjar moves to phase {n1}.",
    "mobile 07700 900{n3}",
]
NON_ASCII = [
    "Die Straße in München ist gesperrt; Café Müller öffnet um {h:02d}:{mi:02d}.",
    "Отчёт за {y} год готов, сумма {p} рублей.",
    "会議は{m}月{d}日{h}時に始まります。",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ ａｎｄ ｚｅｒｏ\u200bｗｉｄｔｈ ｓｐａｃｅｓ.",
    "Ça coûte {p} € — naïve façade, coöperate, résumé.",
]


def corpus(size: int, non_ascii: float, seed: int = 7) -> str:
    """About ``size`` characters of generated prose (see the module docstring)."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        roll = rng.random()
        pool = NON_ASCII if roll < non_ascii else SENSITIVE if roll < non_ascii + 0.1 else PROSE
        values = {"y": rng.randint(1990, 2035), "m": rng.randint(1, 12), "d": rng.randint(1, 28),
                  "h": rng.randint(0, 23), "h2": rng.randint(0, 23), "mi": rng.randint(0, 59),
                  "p": rng.randint(1, 10**7), "c": rng.randint(0, 99), "n": rng.randint(1, 999),
                  "n0": rng.randint(0, 9), "n1": rng.randint(1, 9), "n3": rng.randint(100, 999),
                  "n4": rng.randint(1000, 9999), "n6": rng.randint(10**5, 10**6 - 1),
                  "n8": rng.randint(10**7, 10**8 - 1)}
        piece = rng.choice(pool).format(**values) + (" " if rng.random() < 0.85 else "\n\n")
        parts.append(piece)
        total += len(piece)
    return "".join(parts)[:size]


def best_of(rounds: int, fn: Callable[[], object], drain: bool = False) -> float:
    """Median seconds of ``rounds`` calls (``drain``: exhaust the iterator ``fn`` returns)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        out = fn()
        if drain:
            list(out)  # type: ignore[call-overload]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def label(finder: Finder) -> str:
    """A short name for one recognizer."""
    if isinstance(finder, Recognizer):
        return f"{finder.kind:<16} {finder.pattern.pattern[:44]!s}"
    return f"{finder.kind:<16} {type(finder).__name__}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--non-ascii", type=float, default=0.05,
                        help="share of paragraphs with non-ASCII text (the slow folding path)")
    args = parser.parse_args()
    print(machine_line())
    size = int(args.mb * 1_000_000)
    text = corpus(size, args.non_ascii)
    mb = len(text.encode()) / 1e6
    terms = ["Operation Nightjar"] + [f"Project Codename{i}" for i in range(49)]
    patterns = [r"\bPRJ-\d{4}\b", r"\b[A-Z]{3}-\d{6}\b", r"(?:case|matter)\s*#\d{5}"]

    fold_s = best_of(args.rounds, lambda: normalize(text))
    folded = normalize(text)
    print(f"corpus: {len(text):,} characters, {mb:.2f} MB UTF-8, "
          f"{args.non_ascii:.0%} non-ASCII paragraphs")
    print(f"  {'fold (NFKC, invisible, casefold)':<62} {fold_s * 1000:8.1f} ms")
    rows = []
    for finder in BUILT_IN:
        seconds = best_of(args.rounds, partial(finder.find, folded), drain=True)
        rows.append((seconds, label(finder), len(list(finder.find(folded)))))
    for seconds, name, hits in sorted(rows, reverse=True):
        print(f"  {name:<62} {seconds * 1000:8.1f} ms  {hits:6d} found")
    term_pattern = compile_terms(terms)
    assert term_pattern is not None
    seconds = best_of(args.rounds, partial(term_pattern.findall, folded.folded))
    hits = len(term_pattern.findall(folded.folded))
    print(f"  {'TERM             50 custom terms':<62} {seconds * 1000:8.1f} ms  {hits:6d} found")
    for pattern in compile_custom_patterns(patterns):
        seconds = best_of(args.rounds, partial(pattern.findall, folded.folded))
        hits = len(pattern.findall(folded.folded))
        print(f"  {'CUSTOM           ' + pattern.pattern:<62} {seconds * 1000:8.1f} ms  "
              f"{hits:6d} found")
    r = Redactor(terms, patterns)
    total = best_of(args.rounds, lambda: r.redact(text))
    result = r.redact(text)
    print(f"redact: {mb / total:.2f} MB/s ({total:.2f} s for {mb:.2f} MB); "
          f"findings by type: {dict(sorted(result.counts.items()))}")
    for share in (0.0, 1.0):
        other = corpus(size, share, seed=11)
        seconds = best_of(args.rounds, partial(r.redact, other))
        omb = len(other.encode()) / 1e6
        print(f"  with {share:.0%} non-ASCII paragraphs: {omb / seconds:.2f} MB/s "
              f"({omb:.2f} MB in {seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

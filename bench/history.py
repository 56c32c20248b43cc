"""History store benchmark: SQLCipher against plain SQLite, same schema, same run.

Loads 100,000 messages in 1,000 conversations into each, then measures bulk inserts/s,
acknowledged single-message writes/s through ``HistoryStore``, full-text search p50/p95 over
200 varied queries and conversation-list latency, and prints SQLCipher/SQLite ratios.

Goals: FTS p95 < 50 ms, list < 20 ms, SQLCipher within 1.5x of SQLite.

Run: ``.venv/bin/python bench/history.py [--messages N] [--conversations N]``
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine import cpu  # bench/ is the script's directory

from app.core.store import READ_CACHE_KIB, database
from app.core.store.history import HistoryStore
from app.core.store.keys import KeyMode
from app.core.store.schema import MIGRATIONS

WORDS_PER_MESSAGE = (8, 80)
KINDS = ("rare word", "common word", "3-word phrase", "two words", "3-letter prefix")




def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: set[str] = set()
    while len(out) < size:
        out.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(out)


def make_texts(rng: random.Random, vocab: list[str], n: int) -> list[str]:
    # Zipf-like: a few words are very common, most are rare (as in real language).
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    out = []
    for _ in range(n):
        k = rng.randint(*WORDS_PER_MESSAGE)
        out.append(" ".join(rng.choices(vocab, weights=weights, k=k)))
    return out


def make_queries(rng: random.Random, vocab: list[str], texts: list[str], n: int) -> list[str]:
    queries = []
    for i in range(n):
        kind = i % 5
        if kind == 0:  # a rare word
            queries.append(rng.choice(vocab[len(vocab) // 2 :]))
        elif kind == 1:  # a common word
            queries.append(rng.choice(vocab[:50]))
        elif kind == 2:  # an exact phrase from a real message
            words = rng.choice(texts).split()
            start = rng.randrange(max(1, len(words) - 3))
            queries.append(" ".join(words[start : start + 3]))
        elif kind == 3:  # two scattered words
            queries.append(f"{rng.choice(vocab[:500])} {rng.choice(vocab[:2000])}")
        else:  # a prefix, as typed
            queries.append(rng.choice(vocab[:3000])[:3])
    return queries


def sqlite_connect(path: Path, *, create: bool) -> Any:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (
        "foreign_keys = ON",
        "secure_delete = ON",
        "temp_store = MEMORY",
        "busy_timeout = 10000",
        "journal_mode = WAL",
        "synchronous = FULL",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def sqlite_migrate(conn: Any, path: Path) -> None:
    # The system SQLite may predate FTS5 'secure-delete' (3.42); everything else is identical.
    script = "\n".join(line for line in MIGRATIONS[0].splitlines() if "'secure-delete'" not in line)
    conn.execute("BEGIN")
    for stmt in database._split(script):
        conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")


def bulk_load(conn: Any, texts: list[str], conversations: int, now: float) -> float:
    per = len(texts) // conversations
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO conversations (id, title, created, updated, route) VALUES (?, ?, ?, ?, ?)",
        [(c + 1, f"conversation {c}", now - c, now - c, "local") for c in range(conversations)],
    )
    conn.execute("COMMIT")
    rows = [
        (i + 1, i // per + 1, "user" if i % 2 == 0 else "assistant", t, now)
        for i, t in enumerate(texts)
    ]
    for start in range(0, len(rows), 5000):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, role, text, created) "
            "VALUES (?, ?, ?, ?, ?)",
            rows[start : start + 5000],
        )
        conn.execute("COMMIT")
    return len(texts) / (time.perf_counter() - started)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def run_backend(
    name: str, root: Path, texts: list[str], queries: list[str], conversations: int
) -> dict[str, float]:
    path = root / f"{name}.db"
    now = time.time()
    if name == "sqlcipher":
        key = secrets.token_bytes(32).hex()
        path.touch()
        write = database.connect(path, key, create=True)
        database.migrate(write, path)
        read = database.connect(path, key, create=False)
    else:
        write = sqlite_connect(path, create=True)
        sqlite_migrate(write, path)
        read = sqlite_connect(path, create=False)
    # The app's reader keeps hot pages decrypted in memory (open_history); give both the same.
    read.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
    inserts = bulk_load(write, texts, conversations, now)
    store = HistoryStore(path, write, read, mode=KeyMode.KEYRING)
    try:
        cid = store.create_conversation("acknowledged writes")
        n_ack = 300
        t = time.perf_counter()
        for i in range(n_ack):
            store.add_message(cid, "user", texts[i])
        acked = n_ack / (time.perf_counter() - t)
        for q in queries[:10]:  # warm the cache as a running app would be
            store.search(q)
        fts = []
        for q in queries:
            t = time.perf_counter()
            store.search(q)
            fts.append((time.perf_counter() - t) * 1000)
        # One letter as typed into the search box: the query that once merged every word
        # starting with it.
        letters = timed(lambda: [store.search(c) for c in "aest"], 3)
        lst = timed(lambda: store.list_conversations(limit=50), 200)
        msgs = timed(lambda: store.messages(conversations // 2), 100)
    finally:
        store.close()
    size = sum(p.stat().st_size for p in root.glob(f"{name}.db*"))
    return {
        "bulk inserts/s": inserts,
        "acked add_message/s": acked,
        "FTS p50 ms": pct(fts, 50),
        "FTS p95 ms": pct(fts, 95),
        **{f"  {kind} p95 ms": pct(fts[i::5], 95) for i, kind in enumerate(KINDS)},
        "  one letter (each) ms": max(letters) / 4,
        "list p50 ms": pct(lst, 50),
        "list p95 ms": pct(lst, 95),
        "messages(conv) p95 ms": pct(msgs, 95),
        "db size MiB": size / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="sqlcipher,sqlite",
                        help="comma-separated; sqlcipher alone halves a 1M run")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocab = vocabulary(rng)
    texts = make_texts(rng, vocab, args.messages)
    queries = make_queries(rng, vocab, texts, args.queries)
    print(f"{cpu()}; load average at start {os.getloadavg()[0]:.1f}")
    print(
        f"{args.messages:,} messages, {args.conversations:,} conversations, "
        f"{len(queries)} queries; SQLCipher {database.cipher_version()}, "
        f"SQLite {sqlite3.sqlite_version} (plain)"
    )
    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as tmp:
        results = {
            name: run_backend(name, Path(tmp), texts, queries, args.conversations)
            for name in args.backends.split(",")
        }
    print(f"{'':24}{'SQLCipher':>12}{'SQLite':>12}{'ratio':>8}")
    for metric in results["sqlcipher"]:
        a = results["sqlcipher"][metric]
        if "sqlite" not in results:
            print(f"{metric:24}{a:12.2f}")
            continue
        b = results["sqlite"][metric]
        # Ratio as "how many times worse SQLCipher is": inverted for rates.
        ratio = (b / a) if metric.endswith("/s") else (a / b)
        print(f"{metric:24}{a:12.2f}{b:12.2f}{ratio:8.2f}")
    sc = results["sqlcipher"]
    print(
        f"goals: FTS p95 < 50 ms: {'PASS' if sc['FTS p95 ms'] < 50 else 'FAIL'}; "
        f"list < 20 ms: {'PASS' if sc['list p95 ms'] < 20 else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

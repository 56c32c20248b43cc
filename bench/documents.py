"""Documents: ingestion throughput against a bare onnxruntime loop, and retrieval latency.

1. Ingestion (chunks/s). The same synthetic text files are (a) ingested by Enclave — read,
   hash, extract, chunk, embed, write chunks + vectors + FTS rows to the encrypted database in
   one transaction per file — and (b) embedded by a bare loop: the same chunk texts, the same
   model, tokenizer, batch size and thread count, straight through ``InferenceSession.run``.
   Goal: (a)/(b) >= 0.8. The two alternate for ``--rounds`` rounds; medians are reported.
2. Retrieval (ms). ``--chunks`` chunks (default 100,000) of random unit vectors and synthetic
   text are written straight through the storage layer (embedding them all would take an
   hour), then ``--queries`` hybrid retrievals (vector + BM25 + fusion) run with real query
   embeddings. Goal: p95 < 100 ms on 2 cores. Query embedding time is reported apart.

Usage: python bench/documents.py [--rounds 3] [--files 30] [--chunks 100000] [--queries 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def _vocabulary(size: int = 20_000) -> tuple[list[str], list[float]]:
    """Pseudo-words with Zipf frequencies, like a real corpus: a few very common words, a
    long tail of rare ones (a 30-word vocabulary would make every word match every chunk)."""
    rng = random.Random(0)
    words = list(dict.fromkeys(
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10)))
        for _ in range(size)
    ))
    cumulative: list[float] = []
    total = 0.0
    for rank in range(1, len(words) + 1):
        total += 1.0 / rank
        cumulative.append(total)
    return words, cumulative


WORDS, CUM_WEIGHTS = _vocabulary()


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, cum_weights=CUM_WEIGHTS, k=rng.randint(8, 16))
    return " ".join(words).capitalize() + "."


def _text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    n = 0
    while n < chars:
        s = _sentence(rng)
        out.append(s)
        n += len(s) + 1
    return " ".join(out)


def _setup_home(tmp: Path) -> None:
    os.environ["ENCLAVE_HOME"] = str(tmp / "home")
    # No keyring on a bench machine: the passphrase path opens the database.
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/enclave-bench-bus"


def _bare_loop(files: Any, texts: list[str], threads: int, batch: int) -> float:
    """Chunks/s of the plainest correct onnxruntime loop over the same texts."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(files.model), opts, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(files.tokenizer))
    tok.enable_truncation(max_length=256)
    tok.enable_padding()
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        enc = tok.encode_batch(texts[i : i + batch])
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return len(texts) / (time.perf_counter() - start)


def bench_ingest(args: argparse.Namespace, tmp: Path, files: Any) -> None:
    from app.core.docs.chunking import chunk_sections
    from app.core.docs.embed import Embedder
    from app.core.docs.formats import extract
    from app.core.docs.index import open_index
    from app.core.docs.ingest import ingest
    from app.core.paths import default_paths

    rng = random.Random(1)
    folder = tmp / "corpus"
    folder.mkdir()
    for i in range(args.files):
        (folder / f"doc{i:03d}.txt").write_text(_text(rng, args.file_chars))
    texts = [c.text for f in sorted(folder.iterdir())
             for c in chunk_sections(extract(f, f.read_bytes()).sections)]
    print(f"ingestion: {args.files} files, {len(texts)} chunks, {args.threads} thread(s), "
          f"batch {args.batch}")
    embedder = Embedder(files, threads=args.threads, batch_size=args.batch)
    embedder.embed(texts[:8])  # warm-up
    _bare_loop(files, texts[:8], args.threads, args.batch)
    ours, bare = [], []
    for r in range(args.rounds):
        _setup_home(tmp / f"round{r}")
        paths = default_paths().ensure()
        with open_index(paths, passphrase="bench") as index:
            report = ingest(index, embedder, [folder], "bench")
        ours.append(report.embedded_chunks / report.elapsed_s)
        bare.append(_bare_loop(files, texts, args.threads, args.batch))
        print(f"  round {r + 1}: enclave {ours[-1]:7.1f} chunks/s   bare {bare[-1]:7.1f} "
              "chunks/s")
    a, b = statistics.median(ours), statistics.median(bare)
    print(f"  median: enclave {a:.1f} chunks/s, bare onnxruntime {b:.1f} chunks/s, "
          f"ratio {a / b:.2f} (goal >= 0.8) on {embedder.provider}")


def bench_retrieve(args: argparse.Namespace, tmp: Path, files: Any) -> None:
    from app.core.docs.embed import Embedder
    from app.core.docs.index import NewChunk, open_index
    from app.core.docs.retrieve import retrieve
    from app.core.paths import default_paths

    embedder = Embedder(files, threads=args.threads)
    _setup_home(tmp / "retrieval")
    paths = default_paths().ensure()
    rng = random.Random(2)
    nrng = np.random.default_rng(2)
    per_file = 1000
    t0 = time.perf_counter()
    with open_index(paths, passphrase="bench") as index:
        cid = index.ensure_collection("big")
        for f in range(args.chunks // per_file):
            vecs = nrng.standard_normal((per_file, 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            chunks = [NewChunk(i, _text(rng, 600), None, None, i * 600, i * 600 + 600, False,
                               vecs[i].tobytes()) for i in range(per_file)]
            index.store_file(cid, f"/synthetic/file{f:04d}.txt", sha256=f"{f:064x}",
                             size=per_file * 600, mtime=0.0, chunks=chunks)
        build = time.perf_counter() - t0
        n = index.counts()["doc_chunks"]
        print(f"retrieval: {n} chunks written in {build:.1f} s "
              f"({n / build:.0f} chunks/s through the storage layer)")
        questions = [_sentence(rng) for _ in range(args.queries)]
        t0 = time.perf_counter()
        vectors = [embedder.embed_one(q) for q in questions]
        embed_ms = (time.perf_counter() - t0) / len(questions) * 1000
        retrieve(index, vectors[0], questions[0], collections=["big"])  # warm the cache
        times = []
        for q, v in zip(questions, vectors, strict=True):
            t = time.perf_counter()
            passages = retrieve(index, v, q, collections=["big"], token_budget=1500)
            times.append((time.perf_counter() - t) * 1000)
            assert passages
    times.sort()
    p50 = times[len(times) // 2]
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print(f"  {len(times)} queries: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms "
          f"(goal p95 < 100 ms); query embedding {embed_ms:.1f} ms each")


def main() -> int:
    """Run both benchmarks and print their figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--files", type=int, default=30)
    p.add_argument("--file-chars", type=int, default=6000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-retrieve", action="store_true")
    args = p.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}")
    from app.core.docs.embed import find_embedding_files
    from app.core.paths import default_paths

    files = find_embedding_files(default_paths())  # the user's provisioned models
    saved = os.environ.get("ENCLAVE_HOME")
    with tempfile.TemporaryDirectory(prefix="enclave-docs-bench-") as tmp:
        try:
            if not args.skip_ingest:
                bench_ingest(args, Path(tmp), files)
            if not args.skip_retrieve:
                bench_retrieve(args, Path(tmp), files)
        finally:
            if saved is None:
                os.environ.pop("ENCLAVE_HOME", None)
            else:
                os.environ["ENCLAVE_HOME"] = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())

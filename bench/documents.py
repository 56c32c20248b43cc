"""Documents: ingestion throughput against a bare onnxruntime loop, and retrieval at scale.

1. Ingestion (chunks/s). The same synthetic text files are (a) ingested by Enclave into a new
   index (read, hash, extract, chunk, embed with the index's copy of the model — the int8
   ``fast`` one —, write chunks, vectors and FTS rows to the encrypted database) and (b)
   embedded by a bare loop: the catalog's model file, batches of 32 (``--bare-batch``), as
   Enclave embedded before issue 20. ``--compare`` adds the ``exact`` copy and the catalog
   file at both batch sizes. They alternate for ``--rounds``; medians of chunks/s and of
   chunks per CPU-second (steadier on a shared machine). Then the folder again, unchanged.
2. Retrieval (ms). ``--chunks`` chunks (default 100,000) written straight through the storage
   layer, with vectors blended from real embeddings of the bench's sentences (``--vectors
   embedded``) or uniform noise (``random``, any approximate index's worst case); the graph
   follows every write; then ``--queries`` hybrid retrievals with real query embeddings.
   Reported: write time, graph memory, p50/p95, recall@10 vs exact search, bytes a chunk,
   each shard's save, reopening, rebuilding (``--rebuilds N`` times), each with the largest
   stall a 5 ms timer thread saw meanwhile and, for each over 20 ms, whether the host's
   steal, the run queue or the GIL took the time. Goal: p95 < 100 ms and recall@10 >= 0.95.
   ``--raw-build`` then builds the same shards with usearch alone: the rebuild's ratio to it.
3. ``--floor SECONDS`` first: the same timer beside processes burning every core, sharing
   no GIL with it — the machine's own stalls, to read the others against.

Usage: python bench/documents.py [--rounds 3] [--files 30] [--compare] [--batch N] [--chunks
       100000] [--queries 100] [--vectors embedded|random] [--rebuilds N] [--raw-build]
       [--floor SECONDS] [--skip-ingest|--skip-retrieve|...]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import cpu  # bench/ is the script's directory

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
    from app.core.docs.embed import BATCH_SIZE
    from app.core.docs.embed_optimize import cached_paths, optimized_model
    from app.core.docs.schema import EXACT_EMBEDDER, FAST_EMBEDDER
    from app.core.models.catalog import default_entry
    batch = args.batch or BATCH_SIZE
    copies, sha = {}, default_entry("embedding").sha256
    for variant in (FAST_EMBEDDER, EXACT_EMBEDDER):
        start = time.perf_counter()
        copies[variant] = optimized_model(files.model, sha, tmp / "opt-cache", variant)
        made = copies[variant] == cached_paths(tmp / "opt-cache", sha, variant)[0]
        print(f"  {variant} copy of the model made in {time.perf_counter() - start:.1f} s: "
              f"{'yes' if made else 'NO (fell back)'}")
    # (label, model, batch): the app's way (a new index's copy), an older index's, the catalog's.
    variants = [("enclave (fast copy)", copies[FAST_EMBEDDER], batch)]
    if args.compare:
        variants += [("exact copy, same batch", copies[EXACT_EMBEDDER], batch),
                     ("original model, same batch", files.model, batch),
                     (f"original model, batch {args.bare_batch}", files.model, args.bare_batch)]
    print(f"ingestion: {args.files} files, {len(texts)} chunks, {args.threads} thread(s), "
          f"batch {batch} (bare loop: batch {args.bare_batch}, the original model)")
    embedders = []  # each fills a new index: timed, not searched
    for _, model, size in variants:
        embedder = Embedder(type(files)(model=model, tokenizer=files.tokenizer),
                            threads=args.threads, batch_size=size)
        embedder.variant = FAST_EMBEDDER
        embedder.embed(texts[: 2 * size + 1])  # warm-up (makes the side-by-side sessions)
        embedders.append(embedder)
    _bare_loop(files, texts[:8], args.threads, args.bare_batch)
    walls: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    cpus: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    walls["bare"], cpus["bare"] = [], []
    for r in range(args.rounds):
        for n, ((label, _, _), embedder) in enumerate(zip(variants, embedders, strict=True)):
            _setup_home(tmp / f"round{r}-{n}")
            paths = default_paths().ensure()
            cpu0 = time.process_time()
            with open_index(paths, passphrase="bench") as index:
                report = ingest(index, embedder, [folder], "bench")
                used = time.process_time() - cpu0
                again = ingest(index, embedder, [folder], "bench")
            walls[label].append(report.chunks_per_s)
            cpus[label].append(len(texts) / used)
        cpu0 = time.process_time()
        walls["bare"].append(_bare_loop(files, texts, args.threads, args.bare_batch))
        cpus["bare"].append(len(texts) / (time.process_time() - cpu0))
        print(f"  round {r + 1}: " + "; ".join(
            f"{k} {walls[k][-1]:.1f}/s ({cpus[k][-1]:.1f}/cpu-s)" for k in walls))
    bare_wall, bare_cpu = statistics.median(walls["bare"]), statistics.median(cpus["bare"])
    for label in walls:
        w, c = statistics.median(walls[label]), statistics.median(cpus[label])
        print(f"  median {label}: {w:.1f} chunks/s, {c:.1f} chunks per CPU-second; "
              f"vs bare loop {w / bare_wall:.2f} (wall) {c / bare_cpu:.2f} (CPU)")
    print(f"  (the code before issue 20 ran at 1.02-1.06x the bare loop) on "
          f"{embedders[0].provider}; load average now {os.getloadavg()[0]:.1f}")
    print(f"  the same {args.files} files again, unchanged: {again.elapsed_s * 1000:.0f} ms "
          f"({len(again.having('unchanged'))} unchanged, nothing parsed or embedded)")


def _unit(a: np.ndarray) -> np.ndarray:
    out: np.ndarray = (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)
    return out


class _Vectors:
    """The synthetic chunks' vectors.

    ``embedded``: each is a real embedding of one of the bench's own sentences, mixed with a
    second one and blurred with noise: vectors that lie where the model's vectors lie, as a
    real collection's do. ``random``: uniform on the sphere, where no vector is much nearer a
    question than any other — the worst case of every approximate index, and what this bench
    used before the graph existed.
    """

    def __init__(self, kind: str, embedder: Any, rng: random.Random, seed: int) -> None:
        self.kind = kind
        self.rng = np.random.default_rng(seed)
        self.base = None
        if kind == "embedded":
            t0 = time.perf_counter()
            self.base = embedder.embed([_sentence(rng) for _ in range(1000)])
            print(f"  {len(self.base)} base sentences embedded in {time.perf_counter() - t0:.1f} s")

    def make(self, n: int) -> np.ndarray:
        if self.base is None:
            return _unit(self.rng.standard_normal((n, 384)))
        a = self.base[self.rng.integers(0, len(self.base), n)]
        b = self.base[self.rng.integers(0, len(self.base), n)]
        w = self.rng.uniform(0.55, 1.0, (n, 1)).astype(np.float32)
        noise = self.rng.standard_normal((n, 384)).astype(np.float32) * (0.25 / 384**0.5)
        return _unit(w * a + (1 - w) * b + noise)


class _StallMeter:
    """A thread that sleeps 5 ms at a time and keeps the largest overshoot: what a GUI
    thread would have waited (for the GIL or a core) while a graph loads or is built.

    Each overshoot over ``NOTE_MS`` is kept with where the time went: waiting for a core in
    this VM (the thread's run-queue delay, /proc/thread-self/schedstat), the host taking the
    VM's cores (steal, /proc/stat, 10 ms ticks), or neither — waiting for the GIL (Python's
    own collections over 5 ms are kept apart). ``phase`` names what the app was doing (from
    its log lines) when it happened.
    """

    NOTE_MS = 20.0

    def __init__(self) -> None:
        self.worst = 0.0
        self.notes: list[tuple[float, float, float, str]] = []  # stall, run queue, steal ms
        self.phase = "start"
        self.collections: list[tuple[float, int]] = []  # ms, generation
        self._collecting = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _waited() -> tuple[float, float]:
        """This thread's run-queue delay and the machine's steal so far, in ms."""
        try:
            queued = int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e6
            steal = int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8]) * 10.0
        except (OSError, IndexError, ValueError):
            return 0.0, 0.0
        return queued, steal

    def _run(self) -> None:
        queued, steal = self._waited()
        while not self._stop.is_set():
            t = time.perf_counter()
            time.sleep(0.005)
            over = time.perf_counter() - t - 0.005
            self.worst = max(self.worst, over)
            now_queued, now_steal = self._waited()
            if over * 1000 > self.NOTE_MS:
                self.notes.append((over * 1000, now_queued - queued, now_steal - steal,
                                   self.phase))
            queued, steal = now_queued, now_steal

    def _collected(self, event: str, info: dict[str, int]) -> None:
        if event == "start":
            self._collecting = time.perf_counter()
            return
        took = (time.perf_counter() - self._collecting) * 1000
        if took > 5:
            self.collections.append((took, info["generation"]))

    def report(self) -> str:
        """The overshoots kept, largest first: where the time went, and in what phase."""
        notes = sorted(self.notes, reverse=True)[:8]
        text = "; ".join(f"{s:.0f} ms (run queue {q:.0f}, steal {st:.0f}) in {ph}"
                         for s, q, st, ph in notes) or "none"
        gcs = sorted(self.collections, reverse=True)[:3]
        return text + "; collections over 5 ms: " + (
            ", ".join(f"{ms:.0f} ms (gen {g})" for ms, g in gcs) or "none")

    def __enter__(self) -> _StallMeter:
        gc.callbacks.append(self._collected)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        gc.callbacks.remove(self._collected)


class _Phases(logging.Handler):
    """Names a meter's phase from the documents index's log lines while it is attached."""

    def __init__(self, meter: _StallMeter) -> None:
        super().__init__(logging.INFO)
        self.meter = meter
        self.log = logging.getLogger("app.core.docs.ann")

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        # "collection N's graph built (…)" or "… graph loaded …": what follows are its saves.
        ready = "'s graph built" in message or "'s graph loaded" in message
        self.meter.phase = "saving" if ready else message[:40]

    def __enter__(self) -> _Phases:
        self.log.addHandler(self)
        self.level_before = self.log.level
        self.log.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.removeHandler(self)
        self.log.setLevel(self.level_before)


def _rss_mib() -> float:
    import psutil
    return float(psutil.Process().memory_info().rss) / 2**20


def _wait_graph(index: Any, cid: int) -> tuple[float, float]:
    """Seconds until the collection's graph is ready, and the largest 5 ms-timer stall."""
    t0 = time.perf_counter()
    with _StallMeter() as meter, _Phases(meter):
        meter.phase = "building or loading"
        ready = index.ann.wait(cid, timeout=3600)
    assert ready, "the graph did not become ready"
    print(f"    stalls over {meter.NOTE_MS:.0f} ms: {meter.report()}")
    return time.perf_counter() - t0, meter.worst * 1000


def _write_chunks(index: Any, cid: int, vectors: _Vectors, n: int, rng: random.Random,
                  keep: list[np.ndarray]) -> float:
    from app.core.docs.index import NewChunk

    per_file = 1000
    t0 = time.perf_counter()
    for f in range(n // per_file):
        vecs = vectors.make(per_file)
        keep.append(vecs)
        chunks = [NewChunk(i, _text(rng, 600), None, None, i * 600, i * 600 + 600, False,
                           vecs[i].tobytes()) for i in range(per_file)]
        index.store_file(cid, f"/synthetic/file{f:05d}.txt", sha256=f"{f:064x}",
                         size=per_file * 600, mtime=0.0, chunks=chunks)
    return time.perf_counter() - t0


def _recall(index: Any, cid: int, all_vectors: np.ndarray, queries: list[np.ndarray]) -> float:
    """recall@10 of the vector side (graph + re-rank) against exact search over every vector."""
    from app.core.docs.retrieve import CANDIDATES, EXACT_LIMIT, _vector_ranks

    scope = [(cid, len(all_vectors))]
    found = 0
    for q in queries:
        exact = set(np.argpartition(-(all_vectors @ q), 10)[:10].tolist())
        ranked = _vector_ranks(index, q, scope, CANDIDATES, EXACT_LIMIT)
        found += len({chunk_id - 1 for chunk_id, _ in ranked[:10]} & exact)
    return found / (10 * len(queries))


# Long on purpose: one run writes, waits for the graph, queries, measures recall, reopens.
def bench_retrieve(args: argparse.Namespace, tmp: Path, files: Any) -> None:
    from app.core.docs.embed import Embedder
    from app.core.docs.index import open_index
    from app.core.docs.retrieve import retrieve
    from app.core.paths import default_paths

    embedder = Embedder(files, threads=args.threads)
    _setup_home(tmp / "retrieval")
    paths = default_paths().ensure()
    rng = random.Random(2)
    print(f"retrieval: {args.chunks} chunks, vectors: {args.vectors}")
    vectors = _Vectors(args.vectors, embedder, rng, 2)
    keep: list[np.ndarray] = []
    rss0 = _rss_mib()
    with open_index(paths, passphrase="bench") as index:
        cid = index.ensure_collection("big")
        # The first question starts the graph; every later write then adds to it.
        index.ann.wait(cid, timeout=60)
        build = _write_chunks(index, cid, vectors, args.chunks, rng, keep)
        n = index.counts()["doc_chunks"]
        print(f"  {n} chunks written in {build:.1f} s ({n / build:.0f} chunks/s through the "
              "storage layer, the graph following every write)")
        with _StallMeter() as meter:
            t0 = time.perf_counter()
            index.ann.settle(cid, min_changes=1)
        save_s = time.perf_counter() - t0
        stats = index.ann.stats(cid)
        assert stats is not None
        saved = index.query("SELECT bytes FROM doc_ann WHERE collection_id = ?", (cid,))[0][0]
        print(f"  graph: {stats.vectors} vectors, {getattr(stats, 'shards', 1)} shard(s), "
              f"{stats.memory_bytes / 2**20:.0f} MiB (RSS +{_rss_mib() - rss0:.0f} MiB, the "
              f"bench's vectors included); saved ({saved / 2**20:.0f} MiB) in {save_s:.1f} s, "
              f"largest stall meanwhile {meter.worst * 1000:.1f} ms")
        print(f"    stalls over {meter.NOTE_MS:.0f} ms: {meter.report()}")
        graph = index.ann._entries[cid].graph  # noqa: SLF001 - the bench looks inside
        for part in [getattr(p, "graph", p) for p in getattr(graph, "shards", [graph])]:
            t0 = time.perf_counter()  # usearch's save holds the GIL throughout
            print(f"  save of {len(part)} vectors ({len(part.save()) / 2**20:.0f} MiB): "
                  f"{(time.perf_counter() - t0) * 1000:.1f} ms")
        questions = [_sentence(rng) for _ in range(args.queries)]
        t0 = time.perf_counter()
        qvecs = [embedder.embed_one(q) for q in questions]
        embed_ms = (time.perf_counter() - t0) / len(questions) * 1000
        all_vectors = np.concatenate(keep)
        recall = _recall(index, cid, all_vectors, qvecs)
        retrieve(index, qvecs[0], questions[0], collections=["big"])  # warm the cache
        times = []
        for q, v in zip(questions, qvecs, strict=True):
            t = time.perf_counter()
            passages = retrieve(index, v, q, collections=["big"], token_budget=1500)
            times.append((time.perf_counter() - t) * 1000)
            assert passages
    size = sum(f.stat().st_size for f in paths.database_file.parent.glob(
        paths.database_file.name + "*"))
    times.sort()
    p50 = times[len(times) // 2]
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print(f"  {len(times)} queries: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms "
          f"(goal p95 < 100 ms); query embedding {embed_ms:.1f} ms each")
    print(f"  recall@10 of the vector search against exact search: {recall:.3f} (goal >= 0.95)")
    print(f"  database: {size / 2**20:.0f} MiB ({size / n:.0f} bytes a chunk)")
    with open_index(paths, passphrase="bench") as index:
        load_s, stall = _wait_graph(index, cid)
        stats = index.ann.stats(cid)
        how = stats.how if stats else "?"
        print(f"  reopened: graph {how} in {load_s:.1f} s; largest 5 ms-timer stall meanwhile "
              f"{stall:.1f} ms")
        if args.skip_rebuild:
            return
        rebuilds: list[float] = []
        for _ in range(args.rebuilds):
            index.ann.forget(cid)
            index.write(lambda conn: conn.execute("DELETE FROM doc_ann WHERE collection_id = ?",
                                                  (cid,)))
            print(f"  rebuilding, load average {os.getloadavg()[0]:.1f}")
            rebuild_s, stall = _wait_graph(index, cid)
            print(f"  rebuilt from the stored vectors (saved graph deleted) in {rebuild_s:.1f} "
                  f"s; largest stall meanwhile {stall:.1f} ms")
            rebuilds.append(rebuild_s)
    if args.raw_build and rebuilds:
        raw_s = _raw_build(all_vectors)
        print(f"  bare usearch build of the same vectors (shards of the same size, every core, "
              f"no reads, checks or saves): {raw_s:.1f} s; the app's rebuild took "
              f"{min(rebuilds) / raw_s:.2f}x that")


def stall_floor(seconds: float) -> None:
    """The meter beside a burn of every core by other processes at the graph's nice value.

    They share no GIL with the meter, so what it sees is this machine's floor: the host
    taking its cores away (steal) and the scheduler, not anything the app holds.
    """
    import subprocess

    burners = [subprocess.Popen(["nice", "-n", "10", sys.executable, "-c", "while True: pass"])
               for _ in range(os.cpu_count() or 1)]
    try:
        with _StallMeter() as meter:
            meter.phase = "a burn of every core"
            time.sleep(seconds)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    print(f"floor: {len(burners)} processes burning every core for {seconds:.0f} s (nice 10): "
          f"largest 5 ms-timer stall {meter.worst * 1000:.1f} ms")
    print(f"    stalls over {meter.NOTE_MS:.0f} ms: {meter.report()}")


def _raw_build(vectors: np.ndarray) -> float:
    """Seconds usearch alone takes to build the graph's shards from vectors in memory."""
    from app.core.docs.graph import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, usearch_index
    from app.core.docs.shards import SHARD_LIMIT
    from app.core.docs.stored import BUILD_BATCH

    Index = usearch_index()  # noqa: N806 - a class
    keys = np.arange(1, len(vectors) + 1, dtype=np.uint64)
    t0 = time.perf_counter()
    for start in range(0, len(vectors), SHARD_LIMIT):
        shard = Index(ndim=vectors.shape[1], metric="cos", dtype="i8", connectivity=CONNECTIVITY,
                      expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)
        for at in range(start, min(start + SHARD_LIMIT, len(vectors)), BUILD_BATCH):
            end = min(at + BUILD_BATCH, start + SHARD_LIMIT, len(vectors))
            shard.add(keys[at:end], vectors[at:end], threads=0)
    return time.perf_counter() - t0


def main() -> int:
    """Run both benchmarks and print their figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--files", type=int, default=30)
    p.add_argument("--file-chars", type=int, default=6000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=0, help="Enclave's batch (default: the app's)")
    p.add_argument("--bare-batch", type=int, default=32,
                   help="the bare loop's batch (32: the app's before issue 20's last step)")
    p.add_argument("--compare", action="store_true",
                   help="also ingest with the exact copy and with the catalog's model file "
                        "(at the same batch and at the bare loop's)")
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--vectors", choices=("embedded", "random"), default="embedded")
    p.add_argument("--skip-ingest", action="store_true")
    p.add_argument("--skip-retrieve", action="store_true")
    p.add_argument("--skip-rebuild", action="store_true",
                   help="leave out rebuilding the graph from scratch (minutes at 1M chunks)")
    p.add_argument("--rebuilds", type=int, default=1,
                   help="rebuild the graph from scratch this many times, one after another")
    p.add_argument("--floor", type=float, default=0, metavar="SECONDS",
                   help="first meter stalls this long beside processes burning every core")
    p.add_argument("--raw-build", action="store_true",
                   help="then build the same shards with usearch alone, for the ratio")
    args = p.parse_args()
    print(f"{cpu()}; python {platform.python_version()}; load average at start "
          f"{os.getloadavg()[0]:.1f}")
    from app.core.docs.embed import find_embedding_files
    from app.core.paths import default_paths

    if args.floor:
        stall_floor(args.floor)
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

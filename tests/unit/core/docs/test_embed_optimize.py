"""The embedding model's optimised copy: same vectors, made once, checked every time it is
used, and never in the way: any failure (damaged copy, onnxruntime or onnx raising, a copy
whose vectors differ) falls back to the catalog's model with a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.core.docs import embed_optimize
from app.core.docs.embed import Embedder, EmbeddingFiles, load_embedder
from app.core.docs.embed_optimize import cached_paths, optimized_model
from app.core.models.catalog import default_entry
from app.core.models.digests import sha256_file
from app.core.paths import AppPaths

pytest.importorskip("onnx", reason="the optimiser needs the onnx package")

SHA = default_entry("embedding").sha256
TEXTS = [
    "Hi.",
    "The quarterly report shows revenue grew in every region except the north.",
    " ".join(["Employees may carry over five days of annual leave into the next year."] * 12),
    "Ünïcödé, emoji 🙂 and CJK 漢字 in one chunk.",
    "",
]


@pytest.fixture(scope="module")
def made(embedding_files: EmbeddingFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The optimised copy made once for the module, in its own cache."""
    cache = tmp_path_factory.mktemp("cache")
    path = optimized_model(embedding_files.model, SHA, cache)
    assert path != embedding_files.model, "the copy was not made"
    return path


def test_the_copy_embeds_like_the_catalog_model(made: Path, embedding_files: EmbeddingFiles,
                                                embedder: Embedder) -> None:
    import onnx

    ops = {n.op_type for n in onnx.load(str(made)).graph.node}
    assert "IsNaN" not in ops  # the guards are gone: the copy is not the source renamed
    fast = Embedder(EmbeddingFiles(model=made, tokenizer=embedding_files.tokenizer), threads=1)
    ours, theirs = fast.embed(TEXTS), embedder.embed(TEXTS)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine
    assert np.all(np.isfinite(ours))


def test_the_copy_is_made_once_and_reused(made: Path, embedding_files: EmbeddingFiles,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rebuild(*_: object) -> None:
        raise AssertionError("an intact copy was made again")

    monkeypatch.setattr(embed_optimize, "_build", no_rebuild)
    cache = made.parent.parent
    assert optimized_model(embedding_files.model, SHA, cache) == made


def _flip_byte(model: Path, sidecar: Path) -> None:
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))


def _truncate(model: Path, sidecar: Path) -> None:
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 3])


def _delete_model(model: Path, sidecar: Path) -> None:
    model.unlink()


def _garbage_sidecar(model: Path, sidecar: Path) -> None:
    sidecar.write_text("{not json", encoding="utf-8")


def _other_runtime(model: Path, sidecar: Path) -> None:
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    sidecar.write_text(json.dumps({**meta, "onnxruntime": "0.0.1"}), encoding="utf-8")


def _other_source(model: Path, sidecar: Path) -> None:
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    sidecar.write_text(json.dumps({**meta, "source_sha256": "0" * 64}), encoding="utf-8")


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _delete_model, _garbage_sidecar,
                                    _other_runtime, _other_source])
def test_a_damaged_or_stale_copy_is_detected_and_made_again(
    damage: Callable[[Path, Path], None], made: Path, embedding_files: EmbeddingFiles,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache"
    model, sidecar = cached_paths(cache, SHA)
    model.parent.mkdir(parents=True)
    model.write_bytes(made.read_bytes())
    sidecar.write_text((made.with_suffix(".json")).read_text(encoding="utf-8"), encoding="utf-8")
    damage(model, sidecar)
    with caplog.at_level(logging.WARNING, logger=embed_optimize.__name__):
        path = optimized_model(embedding_files.model, SHA, cache)
    assert path == model
    assert "damaged or stale" in caplog.text
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    assert meta["sha256"] == sha256_file(model) == sha256_file(made)


@pytest.mark.parametrize("fault", ["start", "check-exact", "start,no-onnx", "start,segv",
                                   "start,hang"])
def test_a_failure_while_optimising_falls_back_to_the_catalog_model(
    fault: str, embedding_files: EmbeddingFiles, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # The copy is made in a child process: the fault is injected there, crash and hang too.
    monkeypatch.setenv(embed_optimize.FAULT_ENV, fault)
    monkeypatch.setattr(embed_optimize, "BUILD_TIMEOUT_S", 20.0)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger=embed_optimize.__name__):
        path = optimized_model(embedding_files.model, SHA, cache)
    assert path == embedding_files.model
    assert "using the original" in caplog.text
    expected = {"start": "injected at start", "check-exact": "vectors differ",
                "start,no-onnx": "onnx package is not installed", "start,segv": "SIGSEGV",
                "start,hang": "took over 20 s"}[fault]
    assert expected in caplog.text
    model, _ = cached_paths(cache, SHA)
    leftovers = {p.name for p in (cache / "embedding").iterdir()}
    assert leftovers == {model.with_suffix(".failed").name}  # nothing half-written to trust

    # The next start does not spend seconds failing again; a day later it tries again.
    tries: list[object] = []

    def counted(*args: object) -> None:
        tries.append(args)
        raise RuntimeError("still failing")

    monkeypatch.setattr(embed_optimize, "_build", counted)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=embed_optimize.__name__):
        assert optimized_model(embedding_files.model, SHA, cache) == embedding_files.model
    assert tries == [] and "on an earlier try" in caplog.text
    monkeypatch.setattr(embed_optimize, "RETRY_AFTER_S", 0.0)
    assert optimized_model(embedding_files.model, SHA, cache) == embedding_files.model
    assert len(tries) == 1


def test_making_the_copy_leaves_the_gil_to_the_window(
    embedding_files: EmbeddingFiles, tmp_path: Path,
) -> None:
    """onnx's import alone held the GIL ~1 s; in the child it holds nothing of ours."""
    import threading
    import time

    gaps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        path = optimized_model(embedding_files.model, SHA, tmp_path / "cache")
    finally:
        stop.set()
        ticker.join()
    assert path != embedding_files.model
    assert max(gaps) < 0.5, f"a {max(gaps) * 1000:.0f} ms stall while the copy was made"


def test_load_embedder_runs_the_copy_and_falls_back_when_it_will_not_load(
    docs_paths: AppPaths, embedder: Embedder, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast = load_embedder(docs_paths)
    model, _ = cached_paths(docs_paths.cache_dir, SHA)
    assert fast._model == str(model)
    cosine = (fast.embed(TEXTS) * embedder.embed(TEXTS)).sum(axis=1)
    assert cosine.min() >= 0.9999

    # A copy that passes its digest check but onnxruntime refuses: the catalog model runs.
    monkeypatch.setattr(embed_optimize, "optimized_model",
                        lambda *_: docs_paths.cache_dir / "nonsense.onnx")
    (docs_paths.cache_dir / "nonsense.onnx").write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING):
        slow = load_embedder(docs_paths)
    assert slow._model != str(model) and slow._model.endswith(".onnx")
    assert "did not load" in caplog.text

"""The int8 ("fast") copy of the embedding model and which copy an index is searched with.

A new index takes the fast copy; an index that already holds vectors keeps the exact one
(nothing is re-embedded); questions are always embedded by the index's own copy. The fast
copy must find what the exact one finds, and any fault while making it falls back to the
exact copy with a log line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from app.core.docs import embed_optimize
from app.core.docs.embed import Embedder, EmbeddingFiles, load_embedder
from app.core.docs.embed_optimize import cached_paths, optimized_model
from app.core.docs.index import DocumentIndex, NewChunk, open_index
from app.core.docs.schema import EXACT_EMBEDDER, FAST_EMBEDDER
from app.core.models.catalog import default_entry
from app.core.paths import AppPaths
from tests.unit.core.docs.conftest import PASSPHRASE

pytest.importorskip("onnx", reason="the optimiser needs the onnx package")

SHA = default_entry("embedding").sha256
PASSAGES = [
    "Employees may carry over five days of annual leave into the next calendar year.",
    "The data centre's backup generator is tested on the first Monday of every month.",
    "Expense claims above 500 euros need a second approval from the finance team.",
    "Visitors must be escorted at all times and wear a red badge inside the secure area.",
    "The quarterly report shows revenue grew in every region except the north.",
    "Passwords are rotated every ninety days and may not repeat the last twelve.",
    "Laptops leaving the building must have full-disk encryption switched on.",
    "The cafeteria serves vegetarian lunches on Tuesdays and Thursdays.",
    "Classified printouts are shredded in the cross-cut shredder next to the vault.",
    "New starters receive their access cards from reception on their first morning.",
]
QUESTIONS = {
    "How many leave days can I take into next year?": 0,
    "When is the backup generator tested?": 1,
    "Who must approve a large expense claim?": 2,
    "What badge do visitors wear?": 3,
    "How often must I change my password?": 5,
    "What do I do with classified printouts?": 8,
}


@pytest.fixture(scope="module")
def fast_model(embedding_files: EmbeddingFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = optimized_model(embedding_files.model, SHA, tmp_path_factory.mktemp("cache"),
                           FAST_EMBEDDER)
    assert path == cached_paths(path.parent.parent, SHA, FAST_EMBEDDER)[0], "no fast copy"
    return path


def test_the_fast_copy_runs_int8_and_finds_what_the_exact_model_finds(
    fast_model: Path, embedding_files: EmbeddingFiles, embedder: Embedder,
) -> None:
    import onnx

    ops = {n.op_type for n in onnx.load(str(fast_model)).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops, ops
    fast = Embedder(EmbeddingFiles(model=fast_model, tokenizer=embedding_files.tokenizer))
    docs_fast, docs_exact = fast.embed(PASSAGES), embedder.embed(PASSAGES)
    cosine = (docs_fast * docs_exact).sum(axis=1)
    assert cosine.min() >= 0.95 and cosine.mean() >= 0.98, cosine
    for question, expected in QUESTIONS.items():
        by_fast = int(np.argmax(docs_fast @ fast.embed_one(question)))
        by_exact = int(np.argmax(docs_exact @ embedder.embed_one(question)))
        assert by_fast == by_exact == expected, question


def test_without_vnni_the_copy_keeps_headroom_and_is_named_apart(
    embedding_files: EmbeddingFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embed_optimize, "_has_vnni", lambda: False)
    path = optimized_model(embedding_files.model, SHA, tmp_path, FAST_EMBEDDER)
    assert path.name.endswith("-rr.onnx")  # 7-bit weights: x86 int8 without VNNI saturates
    assert path == cached_paths(tmp_path, SHA, FAST_EMBEDDER)[0]


@pytest.mark.parametrize("fault", ["quantize", "check"])
def test_a_fault_while_making_the_fast_copy_falls_back_to_the_exact_one(
    fault: str, docs_paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # In the child process that makes the copy; "check-fast": vectors too far from the
    # catalog model's (a kernel that saturates, say).
    monkeypatch.setenv(embed_optimize.FAULT_ENV, "quantize" if fault == "quantize" else
                       "check-fast")
    with caplog.at_level(logging.WARNING, logger=embed_optimize.__name__):
        embedder = load_embedder(docs_paths, variant=FAST_EMBEDDER)
    assert embedder.variant == EXACT_EMBEDDER
    assert embedder._model == str(cached_paths(docs_paths.cache_dir, SHA)[0])
    assert "using the exact one" in caplog.text
    made = {p.name for p in (docs_paths.cache_dir / "embedding").iterdir()}
    # Nothing half-made to trust next time; the failure is remembered (not retried each start).
    assert {n for n in made if "int8" in n} == {
        cached_paths(docs_paths.cache_dir, SHA, FAST_EMBEDDER)[0].with_suffix(".failed").name}


def _one_chunk(index: DocumentIndex, vector: np.ndarray) -> None:
    cid = index.ensure_collection("old")
    index.store_file(cid, "/old/a.txt", sha256="a" * 64, size=10, mtime=0.0, chunks=[
        NewChunk(0, "an old chunk", None, None, 0, 12, False, vector.tobytes())])


def _as_version_3(index: DocumentIndex) -> None:
    index.write(lambda conn: conn.execute("DELETE FROM docs_meta WHERE key = 'embedder'"))
    index.write(lambda conn: conn.execute(
        "UPDATE docs_meta SET value = '3' WHERE key = 'schema_version'"))


@pytest.mark.parametrize(("chunks", "expected"), [(True, EXACT_EMBEDDER), (False, FAST_EMBEDDER)])
def test_an_index_made_before_keeps_the_copy_its_vectors_came_from(
    chunks: bool, expected: str, docs_paths: AppPaths, embedder: Embedder,
) -> None:
    with open_index(docs_paths, passphrase=PASSPHRASE) as index:
        assert index.embedder == FAST_EMBEDDER  # a new index
        if chunks:
            _one_chunk(index, embedder.embed_one("an old chunk"))
        _as_version_3(index)
    with open_index(docs_paths, passphrase=PASSPHRASE) as index:
        assert index.embedder == expected
        assert index.counts()["doc_chunks"] == (1 if chunks else 0)  # nothing re-embedded


def test_an_unknown_copy_name_reads_as_exact(docs_paths: AppPaths) -> None:
    with open_index(docs_paths, passphrase=PASSPHRASE) as index:
        index.write(lambda conn: conn.execute(
            "UPDATE docs_meta SET value = 'quantum' WHERE key = 'embedder'"))
        assert index.embedder == EXACT_EMBEDDER


def test_questions_are_embedded_by_the_index_s_copy(
    docs_paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core import docs
    from app.core.grounding import Documents
    from app.core.policy import load_policy

    asked: list[str] = []
    real = docs.load_embedder

    def spy(paths: AppPaths, **kwargs: str) -> Embedder:
        asked.append(kwargs.get("variant", EXACT_EMBEDDER))
        return real(paths, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(docs, "load_embedder", spy)
    index = open_index(docs_paths, passphrase=PASSPHRASE)
    try:
        documents = Documents(docs_paths, load_policy(), lambda: index)
        added = documents.embedder(index.embedder)
        assert added.variant == FAST_EMBEDDER
        cid = index.ensure_collection("handbook")
        vectors = added.embed(PASSAGES)
        index.store_file(cid, "/handbook.txt", sha256="b" * 64, size=1, mtime=0.0, chunks=[
            NewChunk(i, text, None, None, 0, len(text), False, vectors[i].tobytes())
            for i, text in enumerate(PASSAGES)])
        grounding = documents.ground("When is the backup generator tested?", ["handbook"])
        assert "backup generator" in grounding.user_text
        assert asked == [FAST_EMBEDDER]  # the question reused the index's copy
        documents.embedder()  # routing and the API ask for the catalog model's vectors
        assert asked == [FAST_EMBEDDER, EXACT_EMBEDDER]
    finally:
        index.close()


def test_adding_with_another_copy_than_the_index_s_says_so(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    from app.core.docs import ingest

    (tmp_path / "a.txt").write_text(PASSAGES[0], encoding="utf-8")
    assert index.embedder == FAST_EMBEDDER and embedder.variant == EXACT_EMBEDDER
    with caplog.at_level(logging.WARNING):
        report = ingest(index, embedder, [tmp_path / "a.txt"], "c")
    assert report.embedded_chunks == 1
    assert "exact vectors added to an index of fast ones" in caplog.text


def test_a_gpu_build_gives_a_new_index_the_exact_copy(
    docs_paths: AppPaths, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    real = metadata.version

    def gpu_build(name: str) -> str:
        return "1.32.0" if name == "onnxruntime-gpu" else real(name)

    monkeypatch.setattr(metadata, "version", gpu_build)
    with open_index(docs_paths, passphrase=PASSPHRASE) as index:
        assert index.embedder == EXACT_EMBEDDER  # CUDA runs the exact copy whole
    monkeypatch.setattr(metadata, "version", real)
    with open_index(docs_paths, passphrase=PASSPHRASE) as index:
        assert index.embedder == EXACT_EMBEDDER  # kept: the index is not re-decided

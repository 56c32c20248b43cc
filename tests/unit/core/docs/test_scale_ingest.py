"""Ingesting many files: unchanged ones cost a read and a hash (never a parse), batches of
similar lengths give the same vectors as one text at a time, and the report says how fast."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core.docs.embed import Embedder, EmbeddingFiles
from app.core.docs.index import DocumentIndex
from app.core.docs.ingest import ingest
from tests.unit.core.docs._fixtures import write_corpus

# The package exports the function under the module's name; the module itself is wanted here.
ingest_module = importlib.import_module("app.core.docs.ingest")


def test_unchanged_files_are_skipped_before_any_parsing(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_corpus(tmp_path / "docs")
    first = ingest(index, embedder, [tmp_path / "docs"], "work")
    assert len(first.having("indexed")) == len(files)

    parsed: list[Path] = []
    real_extract = ingest_module.extract

    def watching_extract(path: Path, data: bytes) -> Any:
        parsed.append(path)
        return real_extract(path, data)

    monkeypatch.setattr(ingest_module, "extract", watching_extract)
    before = embedder.calls
    again = ingest(index, embedder, [tmp_path / "docs"], "work")
    assert len(again.having("unchanged")) == len(files)
    assert parsed == [] and embedder.calls == before

    files["txt"].write_text("The cafeteria now closes at two.")
    changed = ingest(index, embedder, [tmp_path / "docs"], "work")
    assert parsed == [files["txt"]]
    assert [Path(f.path) for f in changed.having("indexed")] == [files["txt"]]


def test_many_short_files_are_written_in_order_with_a_rate(
    index: DocumentIndex, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(25):
        (folder / f"note{i:02d}.txt").write_text(f"Note {i}: the meeting moved to room {i}.")
    report = ingest(index, embedder, [folder], "notes")
    assert [Path(f.path).name for f in report.files] == [f"note{i:02d}.txt" for i in range(25)]
    assert report.embedded_chunks == 25
    assert report.chunks_per_s > 0
    rows = index.query("SELECT f.path, ch.text FROM doc_chunks ch JOIN doc_files f "
                       "ON f.id = ch.file_id")
    # Each file's vectors and text went to that file, though embedded together.
    assert all(text.endswith(f"room {int(Path(path).stem[4:])}.") for path, text in rows)


def test_batches_by_length_and_in_parallel_match_one_at_a_time(
    embedding_files: EmbeddingFiles, embedder: Embedder
) -> None:
    parallel = Embedder(embedding_files, threads=2, batch_size=4)
    texts = [("word " * n).strip() + f" number {n}" for n in (1, 90, 3, 40, 7, 200, 2, 60, 15,
                                                                   5, 120, 9, 30)]
    together = parallel.embed(texts)
    alone = np.stack([embedder.embed_one(t) for t in texts])
    assert together.shape == (len(texts), 384)
    assert np.allclose(together, alone, atol=2e-3)
    assert parallel.calls == len(texts)

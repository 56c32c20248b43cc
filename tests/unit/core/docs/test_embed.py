from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.core.docs.embed import (
    Embedder,
    EmbeddingFiles,
    choose_providers,
    find_embedding_files,
)
from app.core.docs.errors import EmbeddingModelMissing
from app.core.paths import AppPaths


def test_close_meanings_score_higher_than_unrelated_ones(embedder: Embedder) -> None:
    v = embedder.embed([
        "The invoice must be paid within thirty days.",
        "Payment of the bill is due in a month.",
        "Penguins live in the southern hemisphere.",
    ])
    close, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert close > unrelated + 0.3


def test_vectors_are_unit_length_and_batches_agree_with_single_texts(embedder: Embedder) -> None:
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(40)]
    batch = embedder.embed(texts)
    assert batch.shape == (40, 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-4)
    # Padding within a batch must not change a text's vector.
    assert np.allclose(batch[5], embedder.embed_one(texts[5]), atol=1e-4)


def test_long_text_is_truncated_not_refused(embedder: Embedder) -> None:
    v = embedder.embed(["word " * 5000])
    assert v.shape == (1, 384)


def test_the_provider_that_ran_is_reported(embedder: Embedder) -> None:
    assert embedder.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == (
        "CUDAExecutionProvider"
    )


def test_a_gpu_provider_that_cannot_start_falls_back_to_the_cpu_quietly(
    embedding_files: EmbeddingFiles, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # This machine's onnxruntime has no CUDA provider: asking for it is what a CUDA package does
    # on a machine without the NVIDIA libraries.
    e = Embedder(embedding_files, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert e.provider == "CPUExecutionProvider"
    assert e.embed(["still works"]).shape == (1, e.dim)
    assert capfd.readouterr().err == ""
    assert "CUDAExecutionProvider could not start" in caplog.text


def test_missing_model_is_reported_with_how_to_install(paths: AppPaths) -> None:
    with pytest.raises(EmbeddingModelMissing, match="not installed") as info:
        find_embedding_files(paths)
    assert "provision" in info.value.hint


def test_a_tampered_model_file_is_refused(paths: AppPaths, embedder: Embedder) -> None:
    from tests.unit.core.docs._fixtures import find_embedding_files as real

    files = real()
    shutil.copy(files.model, paths.user_models_dir / files.model.name)
    tampered = paths.user_models_dir / files.tokenizer.name
    data = bytearray(Path(files.tokenizer).read_bytes())
    data[100] ^= 0x01  # same size, different bytes
    tampered.write_bytes(bytes(data))
    with pytest.raises(EmbeddingModelMissing, match="SHA-256"):
        find_embedding_files(paths)

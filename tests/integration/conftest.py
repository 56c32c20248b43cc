"""A real engine on the real default model, loaded once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.local import EngineOptions, LocalEngine
from app.core.models.inspect import inspect_gguf


@pytest.fixture(scope="module")
def engine(default_model_file: Path) -> Iterator[LocalEngine]:
    """The local engine with the real SmolLM2 model (2k context keeps tests quick)."""
    e = LocalEngine(
        default_model_file, inspect_gguf(default_model_file), model_id="smollm2-test",
        sha256="test", options=EngineOptions(context_length=2048),
    )
    yield e
    e.close()

"""Crafted GGUF files: each a way a model file can be wrong."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest


def write_small_gguf(path: Path, *, template: str | None = None, n_tensors: int = 2) -> Path:
    """A small, well-formed GGUF written with the reference writer."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny test model")
    w.add_context_length(256)
    w.add_block_count(1)
    if template is not None:
        w.add_chat_template(template)
    for i in range(n_tensors):
        w.add_tensor(f"t{i}", np.ones((32, 32), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def gguf_header(n_tensors: int, n_kv: int, version: int = 3) -> bytes:
    """A bare GGUF header claiming these counts."""
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


@pytest.fixture
def small_gguf(tmp_path: Path) -> Path:
    """A valid small GGUF file (not a runnable model)."""
    return write_small_gguf(tmp_path / "small.gguf")


def renamed_copy(source: Path, target: Path, old: bytes, new: bytes) -> Path:
    """A copy of a real model with one metadata string changed in place (same length).

    The bytes differ (a new sha256, a new version of the model) but the file still loads.
    """
    assert len(old) == len(new)
    data = source.read_bytes()
    at = data.index(old)
    target.write_bytes(data[:at] + new + data[at + len(old):])
    return target


REAL_NAME = b"Smollm2 135M 8k Lc100K Mix1 Ep2"
ESCAPE_TEMPLATE = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


def leftovers(directory: Path) -> list[str]:
    """Anything in a models directory: files and hidden import folders."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []

"""Every kind of bad model file is refused with a reason, and the app survives it."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from app.core.models.errors import ModelFileInvalid, ModelNotFound
from app.core.models.inspect import inspect_gguf
from tests.unit.core.models.conftest import gguf_header, write_small_gguf


def test_valid_file_metadata(small_gguf: Path) -> None:
    info = inspect_gguf(small_gguf)
    assert info.name == "tiny test model"
    assert info.architecture == "llama"
    assert info.context_length == 256
    assert info.parameter_count == 2 * 32 * 32


def test_missing_file_says_how_to_provision(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as err:
        inspect_gguf(tmp_path / "absent.gguf")
    assert "provision" in err.value.hint


def test_text_file_renamed_to_gguf(tmp_path: Path) -> None:
    p = tmp_path / "notes.gguf"
    p.write_text("These are my meeting notes. " * 100)
    with pytest.raises(ModelFileInvalid, match="not a GGUF"):
        inspect_gguf(p)


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "random.gguf"
    p.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(ModelFileInvalid):
        inspect_gguf(p)


def test_truncated_file(small_gguf: Path) -> None:
    data = small_gguf.read_bytes()
    small_gguf.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ModelFileInvalid, match="truncated"):
        inspect_gguf(small_gguf)


def test_header_claiming_2_60_tensors(tmp_path: Path) -> None:
    p = tmp_path / "absurd.gguf"
    p.write_bytes(gguf_header(2**60, 0) + b"\0" * 4096)
    with pytest.raises(ModelFileInvalid, match="tensors"):
        inspect_gguf(p)


def test_array_length_2_62_does_not_hang(tmp_path: Path) -> None:
    key = b"tokenizer.ggml.tokens"
    body = struct.pack("<Q", len(key)) + key + struct.pack("<I", 9)  # array
    body += struct.pack("<IQ", 8, 2**62)  # of strings, 2^62 of them
    p = tmp_path / "hang.gguf"
    p.write_bytes(gguf_header(0, 1) + body + b"\0" * 4096)
    with pytest.raises(ModelFileInvalid, match="elements|strings"):
        inspect_gguf(p, timeout=10)


def test_huge_string_length(tmp_path: Path) -> None:
    key = b"general.name"
    body = struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", 2**50)
    p = tmp_path / "bigstring.gguf"
    p.write_bytes(gguf_header(0, 1) + body + b"\0" * 4096)
    with pytest.raises(ModelFileInvalid, match="claims"):
        inspect_gguf(p)


def test_unsupported_version(tmp_path: Path) -> None:
    p = tmp_path / "v99.gguf"
    p.write_bytes(gguf_header(0, 0, version=99) + b"\0" * 4096)
    with pytest.raises(ModelFileInvalid, match="version 99"):
        inspect_gguf(p)


@pytest.mark.parametrize("offset", [8, 16, 40, 200])
def test_byte_flips_never_crash_the_caller(small_gguf: Path, offset: int) -> None:
    data = bytearray(small_gguf.read_bytes())
    for i in range(offset, offset + 8):
        data[i] ^= 0xFF
    small_gguf.write_bytes(bytes(data))
    try:
        inspect_gguf(small_gguf)
    except ModelFileInvalid as exc:
        assert exc.message  # a reason, not a traceback


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    d = tmp_path / "dir.gguf"
    d.mkdir()
    with pytest.raises(ModelFileInvalid, match="not a regular file"):
        inspect_gguf(d)


def test_real_model_metadata_matches_llama_cpp(default_model_file: Path) -> None:
    import llama_cpp as C

    info = inspect_gguf(default_model_file)
    C.llama_backend_init()
    params = C.llama_model_default_params()
    model = C.llama_model_load_from_file(str(default_model_file).encode(), params)
    try:
        assert info.context_length == C.llama_model_n_ctx_train(model)
        assert info.parameter_count == C.llama_model_n_params(model)
        assert info.chat_template == C.llama_model_chat_template(model, None).decode()
    finally:
        C.llama_model_free(model)
    assert info.quantization == "Q4_1"


def test_tiny_writer_template_survives(tmp_path: Path) -> None:
    p = write_small_gguf(tmp_path / "t.gguf", template="{{ messages }}")
    assert inspect_gguf(p).chat_template == "{{ messages }}"

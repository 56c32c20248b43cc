"""Importing a model is all or nothing: checked copies land, anything else leaves no trace."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.models.errors import ModelError, ModelFileInvalid, ModelNotFound
from app.core.models.importer import TEMP_PREFIX, ImportRefused, remove_stale_imports
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths
from tests.unit.core.models.conftest import (
    ESCAPE_TEMPLATE,
    REAL_NAME,
    gguf_header,
    leftovers,
    renamed_copy,
    write_small_gguf,
)

pytestmark = pytest.mark.model


def test_real_model_imports_and_matches_what_llama_cpp_reports(
    app_paths: AppPaths, default_model_file: Path
) -> None:
    registry = ModelRegistry(app_paths)
    result = registry.import_model(default_model_file)
    assert result.model.path.parent == app_paths.user_models_dir
    assert result.model.path.read_bytes() == default_model_file.read_bytes()
    assert result.model.id == "smollm2-135m-instruct-q4_1"  # the catalog pins these bytes
    info, llama = result.info, result.probe.details
    assert result.probe.ok
    assert info.parameter_count == llama["n_params"]
    assert info.context_length == llama["n_ctx_train"]
    assert info.block_count == llama["n_layer"]
    assert info.embedding_length == llama["n_embd"]
    assert info.head_count == llama["n_head"]
    assert info.head_count_kv == llama["n_head_kv"]
    assert info.vocab_size == llama["n_vocab"]
    assert registry.status(result.model).state == "ready"
    assert leftovers(app_paths.user_models_dir) == [default_model_file.name]


def _truncated(d: Path) -> Path:
    p = write_small_gguf(d / "truncated.gguf")
    p.write_bytes(p.read_bytes()[:-1000])
    return p


def _flipped(d: Path) -> Path:
    p = write_small_gguf(d / "flipped.gguf")
    data = bytearray(p.read_bytes())
    for i in range(16, 24):  # the metadata count
        data[i] ^= 0xFF
    p.write_bytes(bytes(data))
    return p


def _random(d: Path) -> Path:
    p = d / "random.gguf"
    p.write_bytes(os.urandom(64 * 1024))
    return p


def _text(d: Path) -> Path:
    p = d / "notes.gguf"
    p.write_text("These are my meeting notes. " * 100)
    return p


def _absurd(d: Path) -> Path:
    p = d / "absurd.gguf"
    p.write_bytes(gguf_header(2**60, 0) + b"\0" * 4096)
    return p


def _huge_string(d: Path) -> Path:
    key = b"general.name"
    body = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, 2**50)
    p = d / "bigstring.gguf"
    p.write_bytes(gguf_header(0, 1) + body + b"\0" * 4096)
    return p


def _escape(d: Path) -> Path:
    return write_small_gguf(d / "escape.gguf", template=ESCAPE_TEMPLATE)


def _unloadable(d: Path) -> Path:
    return write_small_gguf(d / "tensors-only.gguf")  # valid GGUF, but not a llama model


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_truncated, "truncated"),
        (_flipped, "metadata entries"),
        (_random, "not a GGUF"),
        (_text, "not a GGUF"),
        (_absurd, "1152921504606846976 tensors"),
        (_huge_string, "claims"),
        (_escape, "chat template was refused.*Python internals"),
        (_unloadable, "llama.cpp cannot load it"),
    ],
)
def test_bad_files_are_refused_and_leave_nothing(
    app_paths: AppPaths, tmp_path: Path, make: object, expected: str
) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    registry = ModelRegistry(app_paths)
    with pytest.raises(ModelFileInvalid, match=expected) as err:
        registry.import_model(source)
    assert err.value.hint
    assert leftovers(app_paths.user_models_dir) == []
    assert registry.installed() == []


def test_missing_source(app_paths: AppPaths, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        ModelRegistry(app_paths).import_model(tmp_path / "absent.gguf")


def test_file_over_the_cap_is_refused_before_copying(app_paths: AppPaths, small_gguf: Path) -> None:
    with pytest.raises(ImportRefused, match="more than the"):
        ModelRegistry(app_paths).import_model(small_gguf, max_bytes=2048)
    assert leftovers(app_paths.user_models_dir) == []


def test_interrupted_copy_leaves_nothing(app_paths: AppPaths, default_model_file: Path) -> None:
    def interrupt(done: int, total: int) -> None:
        if done > total // 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ModelRegistry(app_paths).import_model(default_model_file, progress=interrupt)
    assert leftovers(app_paths.user_models_dir) == []


def test_interrupt_right_after_the_staging_folder_appears_leaves_nothing(
    app_paths: AppPaths, small_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The signal can land the instant mkdir returns, before any copying starts.
    real_mkdir = Path.mkdir

    def mkdir_then_interrupt(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.name.startswith(TEMP_PREFIX):
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", mkdir_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ModelRegistry(app_paths).import_model(small_gguf)
    monkeypatch.undo()
    assert leftovers(app_paths.user_models_dir) == []


def test_second_interrupt_during_cleanup_still_removes_the_copy(
    app_paths: AppPaths, default_model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    real_rmtree = shutil.rmtree
    calls = []

    def rmtree_interrupted_once(path: Path, *args: object, **kwargs: object) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the user pressed Ctrl-C again while we cleaned up
        real_rmtree(path, *args, **kwargs)  # type: ignore[arg-type]

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", rmtree_interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        ModelRegistry(app_paths).import_model(default_model_file, progress=interrupt)
    monkeypatch.undo()
    assert len(calls) == 2
    assert leftovers(app_paths.user_models_dir) == []


def test_folder_left_by_a_killed_import_is_removed(app_paths: AppPaths) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = app_paths.user_models_dir / f"{TEMP_PREFIX}{dead.stdout.strip()}-abcd"
    stale.mkdir()
    (stale / "half.gguf").write_bytes(b"GGUF")
    alive = app_paths.user_models_dir / f"{TEMP_PREFIX}{os.getppid()}-abcd"
    alive.mkdir()
    remove_stale_imports(app_paths.user_models_dir)
    assert leftovers(app_paths.user_models_dir) == [alive.name]


def test_same_bytes_or_same_name_twice(
    app_paths: AppPaths, tmp_path: Path, default_model_file: Path
) -> None:
    registry = ModelRegistry(app_paths)
    v2 = renamed_copy(default_model_file, tmp_path / "smol-v2.gguf", REAL_NAME,
                      REAL_NAME[:-1] + b"3")
    registry.import_model(v2)
    with pytest.raises(ImportRefused, match="already installed"):
        registry.import_model(v2)
    other = tmp_path / "other"
    other.mkdir()
    clash = renamed_copy(default_model_file, other / "smol-v2.gguf", REAL_NAME,
                         REAL_NAME[:-1] + b"4")
    with pytest.raises(ModelError, match="named smol-v2.gguf is already installed"):
        registry.import_model(clash)
    assert leftovers(app_paths.user_models_dir) == ["smol-v2.gguf"]

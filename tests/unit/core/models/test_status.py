"""Every installed model has a status a user can act on: ready, or exactly why not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core.chat import ChatService
from app.core.models.catalog import default_entry
from app.core.models.errors import ModelBlocked
from app.core.models.hardware import HardwareInfo
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths
from app.core.policy import EffectivePolicy, load_policy
from tests.policies import policy_root
from tests.unit.core.models.conftest import ESCAPE_TEMPLATE, gguf_header, write_small_gguf

pytestmark = pytest.mark.model

OTHER_DIGEST = "0" * 64


def managed_policy(tmp_path: Path, body: dict[str, object]) -> EffectivePolicy:
    """A real machine policy root with one managed file (root-owned, 0644: tests run as root)."""
    return load_policy(policy_root(tmp_path, body, file_name="10-models.json"))


def test_the_real_model_is_ready(model_paths: AppPaths) -> None:
    registry = ModelRegistry(model_paths)
    [model] = registry.installed()
    status = registry.status(model)
    assert (status.state, model.location) == ("ready", "site")
    assert "MiB" in status.reason


def test_damaged_files_say_why(app_paths: AppPaths) -> None:
    d = app_paths.user_models_dir
    cut = write_small_gguf(d / "cut.gguf")
    cut.write_bytes(cut.read_bytes()[:-1000])
    (d / "absurd.gguf").write_bytes(gguf_header(2**60, 0) + b"\0" * 4096)
    (d / "notes.gguf").write_text("not a model " * 200)
    write_small_gguf(d / "escape.gguf", template=ESCAPE_TEMPLATE)
    registry = ModelRegistry(app_paths)
    reasons = {m.id: registry.status(m) for m in registry.installed()}
    assert {s.state for s in reasons.values()} == {"damaged"}
    assert "truncated" in reasons["cut"].reason
    assert "tensors" in reasons["absurd"].reason
    assert "not a GGUF" in reasons["notes"].reason
    assert "chat template" in reasons["escape"].reason
    assert "Python internals" in reasons["escape"].reason


def test_catalog_name_with_other_bytes_is_a_digest_mismatch(app_paths: AppPaths) -> None:
    write_small_gguf(app_paths.user_models_dir / default_entry().file)
    registry = ModelRegistry(app_paths)
    status = registry.status(registry.find())
    assert status.state == "digest_mismatch"
    assert "not the approved file" in status.reason and "provision" in status.hint


def test_allowlist_allows_the_listed_digest_and_names_the_rule(
    model_paths: AppPaths, tmp_path: Path
) -> None:
    registry = ModelRegistry(model_paths)
    model = registry.find()
    digest = registry.sha256(model)
    allowed = managed_policy(tmp_path / "a", {"models": {"allowed_sha256": [digest]}})
    assert registry.status(model, allowed).state == "ready"
    chat = ChatService(registry, policy=allowed)
    try:
        assert chat.load_model().model_sha256 == registry.sha256(model)
    finally:
        chat.close()

    other = managed_policy(tmp_path / "b", {"models": {"allowed_sha256": [OTHER_DIGEST]}})
    status = registry.status(model, other)
    assert status.state == "blocked"
    assert status.rule is not None and "managed:models.allowed_sha256" in status.rule
    assert "10-models.json" in status.rule
    with pytest.raises(ModelBlocked, match="not on your organization's list") as err:
        ChatService(registry, policy=other).load_model()
    assert "models.allowed_sha256" in err.value.hint


def test_too_large_for_a_small_machine(model_paths: AppPaths) -> None:
    small_machine = HardwareInfo(ram_total=256 * 1024**2, ram_available=128 * 1024**2,
                                 gpu_offload=False)
    registry = ModelRegistry(model_paths, hardware=small_machine)
    status = registry.status(registry.find(), context_length=4096)
    assert status.state == "too_large"
    assert "128 MiB" in status.reason and status.usable


def test_list_metadata_is_cached(model_paths: AppPaths) -> None:
    registry = ModelRegistry(model_paths)
    model = registry.find()
    first = registry.metadata(model)
    cache = model_paths.cache_dir / "gguf-metadata.json"
    assert cache.is_file()
    # A new registry reads the cache: no child process, same answer.
    again = ModelRegistry(model_paths).metadata(model)
    assert again == first
    assert first.quantization == "Q4_1" and first.license == "apache-2.0"


def test_a_model_copied_over_is_read_again(app_paths: AppPaths, tmp_path: Path) -> None:
    target = app_paths.user_models_dir / "m.gguf"
    write_small_gguf(target)
    registry = ModelRegistry(app_paths)
    assert registry.metadata(registry.find("m")).name == "tiny test model"
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model " * 200)
    shutil.copy(bad, target)
    assert registry.status(registry.find("m")).state == "damaged"

"""What the Models page and ``enclave models`` show and may do, decided once in the core."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from app.core.audit import events
from app.core.models import manage
from app.core.models.catalog import default_entry
from app.core.models.errors import ModelBlocked, ModelError
from app.core.models.hardware import FitReport, HardwareInfo
from app.core.models.importer import ImportRefused
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths
from app.core.policy import load_policy
from app.core.settings import Settings
from tests.policies import policy_root
from tests.unit.core.models.conftest import REAL_NAME, leftovers, renamed_copy

GIB = 1024**3
BIG_CPU = HardwareInfo(ram_total=64 * GIB, ram_available=32 * GIB, gpu_offload=False)
BIG_GPU = HardwareInfo(ram_total=64 * GIB, ram_available=32 * GIB, gpu_offload=True,
                       vram_total=24 * GIB, vram_free=20 * GIB, gpu_name="Test GPU")
TINY = HardwareInfo(ram_total=64 * 1024**2, ram_available=16 * 1024**2, gpu_offload=False)


@pytest.mark.parametrize(("report", "kind"), [
    (FitReport(True, 1, 2, 31, "The whole model fits in GPU memory."), "gpu"),
    (FitReport(True, 1, 2, 31, "Needs about 1 MiB; 2 MiB of memory (GPU memory size unknown) "
               "is available."), "gpu"),
    (FitReport(True, 1, 2, 10, "10 of 31 layers fit in GPU memory; the rest needs 5 MiB."),
     "partial"),
    (FitReport(True, 1, 2, 0, "Needs about 1 MiB; 2 MiB of memory is available."), "cpu"),
    (FitReport(False, 9, 2, 0, "Too large for this machine: needs about 9 MiB."), "too_large"),
    (FitReport(False, 9, 2, 5, "Too large for this machine: 5 of 31 layers fit."), "too_large"),
])
def test_where_a_model_runs(report: FitReport, kind: str) -> None:
    fit = manage.fit_of(report)
    assert fit.kind == kind and fit.reason == report.reason
    assert fit.label == manage.FIT_LABELS[fit.kind]


def _policy(paths: AppPaths, tmp: Path, managed: dict[str, Any]) -> tuple[AppPaths, Any]:
    root = policy_root(tmp, managed)
    return dataclasses.replace(paths, policy_root=root), load_policy(root)


@pytest.mark.model
@pytest.mark.parametrize(("hardware", "kind"), [(BIG_CPU, "cpu"), (BIG_GPU, "gpu"),
                                                (TINY, "too_large")])
def test_the_provisioned_model_row(model_paths: AppPaths, hardware: HardwareInfo,
                                   kind: str) -> None:
    registry = ModelRegistry(model_paths, hardware=hardware)
    settings = Settings.load(model_paths)
    [row] = manage.model_rows(registry, None, settings)
    assert row.id == default_entry().id and row.is_default
    assert row.choice.verified and row.choice.location == "site"
    assert row.quantization == registry.metadata(registry.find(row.id)).quantization
    assert row.licence == default_entry().license and row.licence
    assert row.family == "smollm2-135m-instruct"
    assert row.fit.kind == kind
    assert row.policy == "Allowed" and row.load.allowed
    # IT's model: never removable, with the reason.
    assert not row.remove.allowed and "machine-wide" in row.remove.reason


@pytest.mark.model
def test_a_model_the_policy_refuses_cannot_be_loaded_or_chosen(
    model_paths: AppPaths, tmp_path: Path
) -> None:
    paths, policy = _policy(model_paths, tmp_path, {"models": {"allowed_sha256": ["0" * 64]}})
    registry = ModelRegistry(paths, hardware=BIG_CPU)
    [row] = manage.model_rows(registry, policy, Settings.load(paths, policy))
    assert row.policy == "Refused"
    for decision in (row.load, row.make_default):
        assert not decision.allowed
        assert "approved models" in decision.reason
        assert decision.rule.startswith("managed:models.allowed_sha256")


@pytest.mark.model
def test_the_approval_gate_refuses_an_unevaluated_model(
    model_paths: AppPaths, tmp_path: Path
) -> None:
    paths, policy = _policy(model_paths, tmp_path, {"models": {"require_approval": True}})
    [row] = manage.model_rows(ModelRegistry(paths, hardware=BIG_CPU), policy,
                              Settings.load(paths, policy))
    assert row.policy == "Refused" and not row.load.allowed and row.load.rule


def test_restricted_mode_refuses_imports(app_paths: AppPaths, tmp_path: Path,
                                         default_model_file: Path) -> None:
    paths, policy = _policy(app_paths, tmp_path, {"connector": {"enabled": "yes"}})
    assert policy.restricted
    refused = manage.import_allowed(policy)
    assert not refused.allowed and refused.rule == manage.RESTRICTED_RULE
    assert "restricted mode" in refused.reason and "connector.enabled" in refused.reason
    recorded: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(ImportRefused, match="restricted mode"):
        manage.import_file(ModelRegistry(paths), default_model_file, policy,
                           audit=lambda event, **f: recorded.append((event, f)))
    assert leftovers(paths.user_models_dir) == []
    assert [e for e, _ in recorded] == [events.MODEL_REFUSED]
    assert manage.import_allowed(load_policy(app_paths.policy_root)).allowed


@pytest.mark.model
def test_cancel_stops_an_import_and_leaves_nothing(
    app_paths: AppPaths, default_model_file: Path
) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done > 0:
            cancel.set()  # the user pressed Cancel after the first chunk

    with pytest.raises(manage.ImportCancelled, match="cancelled"):
        manage.import_file(ModelRegistry(app_paths), default_model_file, None,
                           progress=progress, cancel=cancel)
    assert len(seen) == 2  # the start, one chunk, then the copy stopped
    assert leftovers(app_paths.user_models_dir) == []


@pytest.mark.model
def test_import_is_audited_then_removable_and_the_default_rolls_back(
    model_paths: AppPaths, tmp_path: Path, default_model_file: Path
) -> None:
    registry = ModelRegistry(model_paths, hardware=BIG_CPU)
    source = renamed_copy(default_model_file, tmp_path / "smollm2-v2.gguf", REAL_NAME,
                          REAL_NAME[:-1] + b"3")
    recorded: list[str] = []
    steps: list[tuple[int, int]] = []
    result = manage.import_file(registry, source, None, audit=lambda e, **_: recorded.append(e),
                                progress=lambda d, t: steps.append((d, t)))
    assert recorded == [events.MODEL_IMPORTED]
    assert steps[-1] == (source.stat().st_size, source.stat().st_size)
    settings = Settings.load(model_paths)
    assert not manage.can_roll_back(registry, settings).allowed
    rows = {r.id: r for r in manage.model_rows(registry, None, settings)}
    new = rows[result.model.id]
    assert not new.choice.verified and new.remove.allowed and new.load.allowed
    assert new.family.endswith("(unverified)")
    registry.set_default(new.id, settings)
    assert manage.active_id(registry, None, settings) == new.id
    assert manage.can_roll_back(registry, settings).allowed
    model, was_default = manage.remove_model(registry, new.id, None, settings)
    assert was_default and model.id == new.id and not Path(model.path).exists()
    assert manage.active_id(registry, None, settings) == default_entry().id
    # The model used before the removed one is the catalog's: still installed, so back it goes.
    assert manage.can_roll_back(registry, settings).allowed


@pytest.mark.model
def test_a_site_model_is_never_removed(model_paths: AppPaths) -> None:
    registry = ModelRegistry(model_paths)
    with pytest.raises(ModelBlocked, match="machine-wide"):
        manage.remove_model(registry, default_entry().id, None, None)
    assert registry.find(default_entry().id).path.exists()


@pytest.mark.parametrize("content", [b"", b"GGUF", b"not a model at all" * 100,
                                     b"GGUF\x03\x00\x00\x00" + b"\xff" * 4096])
def test_a_damaged_file_is_refused_and_nothing_is_added(
    app_paths: AppPaths, tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    recorded: list[str] = []
    with pytest.raises(ModelError) as caught:
        manage.import_file(ModelRegistry(app_paths), bad, None,
                           audit=lambda e, **_: recorded.append(e))
    assert caught.value.message and "bad.gguf" in caught.value.message
    assert recorded == [events.MODEL_REFUSED]
    assert leftovers(app_paths.user_models_dir) == []

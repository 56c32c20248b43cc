"""The models a user may pick, from the real registry and the real default model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.core.models.choices import ModelChoice, model_choices, model_overview, quantization_of
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths
from app.core.policy import load_policy
from tests.policies import policy_root


def managed(paths: AppPaths, root: Path, doc: str) -> AppPaths:
    policy_root(root.parent, doc, name=root.name, file_name="50-models.json")
    return dataclasses.replace(paths, policy_root=root)


@pytest.mark.parametrize(("name", "quant"), [
    ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("Llama-3.2-1B-Instruct-IQ3_XS.gguf", "IQ3_XS"),
    ("tiny.F16.gguf", "F16"),
    ("model-bf16.gguf", "BF16"),
    ("mystery.gguf", "?"),
])
def test_quantization_is_read_from_the_file_name(name: str, quant: str) -> None:
    assert quantization_of(name) == quant


def test_the_site_model_is_offered_verified(model_paths: AppPaths, site_models_dir: Path
                                            ) -> None:
    registry = ModelRegistry(model_paths)
    choices = model_choices(registry, load_policy(model_paths.policy_root))
    [installed] = [m for m in registry.installed() if m.path.parent == site_models_dir]
    [choice] = [c for c in choices if c.id == installed.id]
    assert isinstance(choice, ModelChoice)
    assert choice.verified  # the catalog pins these bytes
    assert choice.size == installed.path.stat().st_size
    assert choice.sha256 == registry.sha256(installed) and len(choice.sha256) == 64
    assert choice.quantization == quantization_of(installed.path.name) != "?"
    assert choice.rule  # the policy decision names its rule
    assert choice.name == installed.display_name


def test_a_model_the_policy_does_not_allow_is_not_offered(
    model_paths: AppPaths, tmp_path: Path
) -> None:
    other = "0" * 64
    paths = managed(model_paths, tmp_path / "pol",
                    f'{{"schema_version": 1, "models": {{"allowed_sha256": ["{other}"]}}}}')
    assert model_choices(ModelRegistry(paths), load_policy(paths.policy_root)) == []


def test_the_overview_shows_a_blocked_model_with_its_rule_and_the_picker_leaves_it_out(
    model_paths: AppPaths, tmp_path: Path
) -> None:
    other = "0" * 64
    paths = managed(model_paths, tmp_path / "pol",
                    f'{{"schema_version": 1, "models": {{"allowed_sha256": ["{other}"]}}}}')
    registry, policy = ModelRegistry(paths), load_policy(paths.policy_root)
    overview = model_overview(registry, policy)
    assert overview and all(c.state == "blocked" for c in overview), overview
    assert all(c.rule.startswith("managed:models.allowed_sha256") for c in overview), overview
    assert all(not c.usable and "administrator" in c.hint for c in overview)
    assert model_choices(registry, policy) == []
    # The same facts, described once: without the policy the model is offered and ready.
    [ready] = [c for c in model_overview(registry, None) if c.verified]
    [offered] = [c for c in model_choices(registry, None) if c.id == ready.id]
    assert (ready.size, ready.sha256, ready.quantization) == (
        offered.size, offered.sha256, offered.quantization)
    assert ready.state == "ready" and ready.usable


def test_an_unverified_copy_is_offered_as_not_verified(
    model_paths: AppPaths, site_models_dir: Path
) -> None:
    registry = ModelRegistry(model_paths)
    [site] = [m for m in registry.installed() if m.path.parent == site_models_dir]
    copy = model_paths.user_models_dir / "my-copy-q8_0.gguf"
    copy.write_bytes(site.path.read_bytes()[: 1 << 20])  # different bytes: no catalog pin
    by_id = {c.id: c for c in model_choices(registry, None)}
    assert by_id["my-copy-q8_0"].verified is False
    assert by_id["my-copy-q8_0"].quantization == "Q8_0"
    assert by_id["my-copy-q8_0"].rule == ""
    assert by_id[site.id].verified


def test_no_models_no_choices(app_paths: AppPaths) -> None:
    assert model_choices(ModelRegistry(app_paths), load_policy(app_paths.policy_root)) == []


def test_the_picker_leaves_out_a_model_the_approval_gate_refuses(
    model_paths: AppPaths, tmp_path: Path
) -> None:
    paths = managed(model_paths, tmp_path / "pol",
                    '{"schema_version": 1, "models": {"require_approval": true}}')
    registry, policy = ModelRegistry(paths), load_policy(paths.policy_root)
    assert not policy.restricted, policy.restricted_reasons
    assert model_choices(registry, policy) == []  # no evaluation report, no approval file
    [blocked] = [c for c in model_overview(registry, policy) if c.verified]
    assert blocked.state == "blocked" and "require_approval" in blocked.rule

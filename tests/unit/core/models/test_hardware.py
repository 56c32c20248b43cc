"""Memory estimates follow llama.cpp's own numbers; the fit decision warns before a bad load."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.models.hardware import (
    HardwareInfo,
    detect_hardware,
    estimate_need,
    fit,
    parse_nvidia_smi,
)
from app.core.models.inspect import inspect_gguf
from app.core.models.load_probe import probe_load

GiB = 1024**3
MiB = 1024**2


@pytest.mark.model
def test_kv_estimate_uses_the_shapes_llama_cpp_reports(default_model_file: Path) -> None:
    info = inspect_gguf(default_model_file)
    llama = probe_load(default_model_file).details
    head_dim = llama["n_embd"] // llama["n_head"]
    expected_kv = llama["n_layer"] * 4096 * 2 * head_dim * llama["n_head_kv"] * 2
    need = estimate_need(info, 4096)
    assert need.kv_cache == expected_kv == 90 * MiB  # llama.cpp logs "KV self size = 90 MiB"
    assert need.weights >= llama["size"]
    assert estimate_need(info, 10**6).kv_cache == estimate_need(info, 8192).kv_cache


@pytest.mark.model
def test_fit_decisions(default_model_file: Path) -> None:
    info = inspect_gguf(default_model_file)
    layers = (info.block_count or 0) + 1
    roomy_cpu = HardwareInfo(16 * GiB, 8 * GiB, gpu_offload=False)
    assert fit(info, 4096, roomy_cpu) == fit(info, 4096, roomy_cpu, gpu_allowed=False)
    report = fit(info, 4096, roomy_cpu)
    assert report.fits and report.gpu_layers_suggested == 0

    big_gpu = HardwareInfo(16 * GiB, 8 * GiB, gpu_offload=True, vram_total=8 * GiB,
                           vram_free=8 * GiB)
    assert fit(info, 4096, big_gpu).gpu_layers_suggested == layers
    assert fit(info, 4096, big_gpu, gpu_allowed=False).gpu_layers_suggested == 0

    small_gpu = HardwareInfo(16 * GiB, 8 * GiB, gpu_offload=True, vram_total=300 * MiB,
                             vram_free=300 * MiB)
    partial = fit(info, 4096, small_gpu)
    assert partial.fits and 0 < partial.gpu_layers_suggested < layers

    tiny = HardwareInfo(256 * MiB, 100 * MiB, gpu_offload=False)
    refused = fit(info, 4096, tiny)
    assert not refused.fits and "Too large" in refused.reason
    assert refused.need_bytes > refused.available_bytes == 100 * MiB


def test_nvidia_smi_output() -> None:
    text = "81559, 80000, NVIDIA H100 80GB HBM3\n81559, 1000, NVIDIA H100 80GB HBM3\n"
    assert parse_nvidia_smi(text) == (2 * 81559 * MiB, 81000 * MiB, "NVIDIA H100 80GB HBM3")
    assert parse_nvidia_smi("") is None
    assert parse_nvidia_smi("[N/A], [N/A]") is None


def test_this_machine() -> None:
    hw = detect_hardware()
    assert 0 < hw.ram_available <= hw.ram_total
    if not hw.gpu_offload:
        assert hw.vram_total is None

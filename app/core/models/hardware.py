"""Will this model fit this machine? Memory, GPU offload, and a rough estimate of the need.

The estimate is deliberately simple and errs on the large side: the file's bytes (weights are
mapped as they are), the KV cache for the chosen context at f16, and the compute buffers
(dominated by one batch of logits). It exists to warn before a load that would swap the
machine to a halt or be killed, not to predict llama.cpp's allocator to the byte.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

from app.core.models.inspect import GGUFInfo

log = logging.getLogger(__name__)

MIB = 1024**2
NVIDIA_SMI_TIMEOUT_S = 2.0
BATCH = 512  # EngineOptions.batch_size: one batch of logits is the largest compute buffer
FIXED_OVERHEAD = 64 * MIB  # llama.cpp's context and graph bookkeeping, runtime slack
VRAM_HEADROOM = 0.9  # drivers and other programs hold some of the free VRAM


@dataclass(frozen=True)
class HardwareInfo:
    """What this machine offers a model.

    Attributes:
        ram_total: Physical memory, bytes.
        ram_available: Memory available without swapping, bytes.
        gpu_offload: Whether this llama.cpp build can offload layers to a GPU.
        vram_total: GPU memory in bytes, where the driver says (``None``: unknown).
        vram_free: Free GPU memory in bytes, where the driver says.
        gpu_name: The GPU's name, where known.
    """

    ram_total: int
    ram_available: int
    gpu_offload: bool
    vram_total: int | None = None
    vram_free: int | None = None
    gpu_name: str | None = None


@dataclass(frozen=True)
class MemoryNeed:
    """A model's estimated memory need for one context length, in bytes."""

    weights: int
    kv_cache: int
    compute: int

    @property
    def total(self) -> int:
        """Everything together."""
        return self.weights + self.kv_cache + self.compute


@dataclass(frozen=True)
class FitReport:
    """Whether a model should load here, and how.

    Attributes:
        fits: False when the estimate exceeds what is available (warn before loading).
        need_bytes: The estimated need.
        available_bytes: RAM available, plus usable free VRAM when layers go to the GPU.
        gpu_layers_suggested: Layers to offload (0: CPU only).
        reason: One sentence a user understands.
    """

    fits: bool
    need_bytes: int
    available_bytes: int
    gpu_layers_suggested: int
    reason: str


def _gpu_offload_supported() -> bool:
    try:
        # Here, not at the top: the backend loads llama.cpp, which a size estimate may not need.
        from app.core.engines.backend import gpu_offload_supported

        return gpu_offload_supported()
    except Exception as exc:  # noqa: BLE001 - a broken llama.cpp build means CPU only
        log.warning("cannot ask llama.cpp about GPU offload: %s", exc)
        return False


def nvidia_vram() -> tuple[int, int, str] | None:
    """Total and free VRAM (bytes, summed over GPUs) and the first GPU's name, or ``None``."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=memory.total,memory.free,name", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return parse_nvidia_smi(proc.stdout)


def parse_nvidia_smi(text: str) -> tuple[int, int, str] | None:
    """Parse ``nvidia-smi --query-gpu=memory.total,memory.free,name`` CSV (MiB)."""
    total = free = 0
    name = ""
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            total += int(float(parts[0])) * MIB
            free += int(float(parts[1])) * MIB
        except (IndexError, ValueError):
            return None
        name = name or (parts[2] if len(parts) > 2 else "")
    return (total, free, name) if total else None


def _device_vram() -> tuple[int, int, str] | None:
    """VRAM as llama.cpp's GPU devices report it (Vulkan, Metal, or CUDA without nvidia-smi)."""
    from app.core.engines.devices import backend_devices  # loads llama.cpp: only when asked

    gpus = [d for d in backend_devices() if d.offloads and d.memory_total > 0]
    if not gpus:
        return None
    return (sum(d.memory_total for d in gpus), sum(d.memory_free for d in gpus),
            gpus[0].description or gpus[0].name)


def detect_hardware() -> HardwareInfo:
    """Look at this machine: RAM (psutil), llama.cpp's GPU offload, VRAM (nvidia-smi or ggml)."""
    import psutil

    mem = psutil.virtual_memory()
    offload = _gpu_offload_supported()
    vram = (nvidia_vram() or _device_vram()) if offload else None
    return HardwareInfo(
        ram_total=int(mem.total),
        ram_available=int(mem.available),
        gpu_offload=offload,
        vram_total=vram[0] if vram else None,
        vram_free=vram[1] if vram else None,
        gpu_name=(vram[2] or None) if vram else None,
    )


def estimate_need(info: GGUFInfo, context_length: int) -> MemoryNeed:
    """Estimate the memory a model needs for a context length.

    KV cache: ``n_layer * n_ctx * (n_embd_k_gqa + n_embd_v_gqa) * 2`` bytes (f16), where
    ``n_embd_k_gqa = key_length * head_count_kv`` and the key length defaults to
    ``embedding_length / head_count``, as in llama.cpp.
    """
    n_ctx = max(1, min(context_length, info.context_length or context_length))
    n_layer = info.block_count or 0
    n_embd = info.embedding_length or 0
    heads = info.head_count or 0
    heads_kv = info.head_count_kv or heads
    head_dim = n_embd // heads if heads else 0
    k_len = info.key_length or head_dim
    v_len = info.value_length or head_dim
    kv = n_layer * n_ctx * (k_len * heads_kv + v_len * heads_kv) * 2
    logits = min(BATCH, n_ctx) * (info.vocab_size or 0) * 4
    return MemoryNeed(weights=info.file_size, kv_cache=kv, compute=logits + FIXED_OVERHEAD)


def fit(
    info: GGUFInfo,
    context_length: int,
    hardware: HardwareInfo,
    *,
    gpu_allowed: bool = True,
) -> FitReport:
    """Decide whether a model fits, and how many layers to offload to the GPU.

    Args:
        info: The model's metadata.
        context_length: The context the user asked for (capped at the trained context).
        hardware: What this machine has (``detect_hardware()``).
        gpu_allowed: The policy's ``engine.gpu_allowed``.
    """
    need = estimate_need(info, context_length)
    layers = (info.block_count or 0) + 1  # +1: the output layer is offloaded too
    use_gpu = hardware.gpu_offload and gpu_allowed
    if use_gpu and hardware.vram_free is not None:
        vram = int(hardware.vram_free * VRAM_HEADROOM)
        if need.total <= vram:
            return FitReport(True, need.total, vram + hardware.ram_available, layers,
                             "The whole model fits in GPU memory.")
        # Partial offload: whole layers go to the GPU while VRAM lasts, the rest stays in RAM.
        per_layer = max(1, need.weights // layers)
        room = vram - need.kv_cache - need.compute
        on_gpu = max(0, min(layers, room // per_layer)) if room > 0 else 0
        in_ram = need.total - on_gpu * per_layer
        ok = in_ram <= hardware.ram_available
        reason = (
            f"{on_gpu} of {layers} layers fit in GPU memory; the rest needs "
            f"{in_ram // MIB} MiB of RAM ({hardware.ram_available // MIB} MiB available)."
        )
        return FitReport(ok, need.total, on_gpu * per_layer + hardware.ram_available,
                         on_gpu, reason if ok else f"Too large for this machine: {reason}")
    suggested = layers if use_gpu else 0  # unified memory or VRAM unknown: llama.cpp decides
    available = hardware.ram_available
    where = "memory" if not use_gpu else "memory (GPU memory size unknown)"
    if need.total <= available:
        return FitReport(True, need.total, available, suggested,
                         f"Needs about {need.total // MIB} MiB; {available // MIB} MiB "
                         f"of {where} is available.")
    return FitReport(
        False, need.total, available, suggested,
        f"Too large for this machine: needs about {need.total // MIB} MiB for a "
        f"{min(context_length, info.context_length or context_length)}-token context, but only "
        f"{available // MIB} MiB of {where} is available.",
    )

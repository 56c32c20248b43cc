"""Loading a GGUF model and creating its context through llama.cpp's C API.

The local engine's load steps, each failure turned into a ``ModelLoadFailed``: how many layers
go to a GPU, the model load with a progress callback that never raises into C, the context
sized and threaded for this machine, the model's chat template, and the warm-up decode.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llama_cpp as C

from app.core.engines.chat_template import FALLBACK_TEMPLATE, ChatTemplate
from app.core.engines.llama_tokens import token_text
from app.core.models.errors import ModelLoadFailed

LoadProgress = Callable[[float], bool]
_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_float, ctypes.c_void_p)


def gpu_label() -> str:
    """``GPU (CUDA0)``: which device the layers went to, as the status bar shows it."""
    from app.core.engines.devices import backend_devices

    gpus = [d.name for d in backend_devices() if d.offloads]
    return f"GPU ({', '.join(gpus)})" if gpus else "GPU"


def context_size(trained: int | None, requested: int) -> int:
    """The context length: the setting, capped at the model's trained length, at least 256."""
    trained = trained or requested
    return max(256, min(requested, trained))


def gpu_layer_count(requested: int) -> int:
    """Layers to offload: ``requested`` (all when negative), none without a GPU backend."""
    gpu = bool(C.llama_supports_gpu_offload())
    gpu_layers = requested if requested >= 0 else (999 if gpu else 0)
    if not gpu:
        gpu_layers = 0
    return gpu_layers


def load_model(
    path: Path, *, gpu_layers: int, extra_bufts: bool, on_progress: LoadProgress | None
) -> tuple[Any, Any]:
    """Load the model's weights.

    Args:
        path: The GGUF file.
        gpu_layers: Layers to offload to the GPU.
        extra_bufts: Let llama.cpp use its extra (repacked) CPU buffer types.
        on_progress: Called with the load fraction; returning False stops the load.

    Returns:
        The ``llama_model`` and the ctypes progress callback (or None), which the caller
        keeps a reference to: llama.cpp holds a raw pointer to it.

    Raises:
        ModelLoadFailed: llama.cpp refused the file or ran out of memory.
    """
    mparams = C.llama_model_default_params()
    mparams.n_gpu_layers = gpu_layers
    mparams.use_extra_bufts = extra_bufts
    callback: Any = None
    if on_progress is not None:
        # The C type returns bool, but a ctypes callback with a c_bool result corrupts the
        # refcount of True/False on CPython 3.11 (fatal at exit). Returning a c_int is
        # ABI-compatible for a bool result on x86-64 and arm64, and safe.
        def _progress(fraction: float, _user: object) -> int:
            try:
                return 1 if on_progress(float(fraction)) else 0
            except Exception:  # noqa: BLE001 - never raise into C
                return 1

        callback = _PROGRESS_FN(_progress)
        mparams.progress_callback = ctypes.cast(callback, C.llama_progress_callback)
    model = C.llama_model_load_from_file(os.fsencode(path), mparams)
    if not model:
        raise ModelLoadFailed(
            f"llama.cpp could not load {path.name} (unsupported architecture, damaged "
            "tensors or not enough memory; details are in the log file).",
            "Check `enclave doctor`, or choose another model.",
        )
    return model, callback


def create_context(model: Any, path: Path, *, n_ctx: int, batch_size: int, threads: int) -> Any:
    """Create the model's context; on failure free the model.

    Args:
        model: The loaded ``llama_model``.
        path: Its GGUF file (named in the error).
        n_ctx: Context length in tokens.
        batch_size: Prompt batch size (capped at ``n_ctx``).
        threads: Threads for generation and for prompt batches.

    Raises:
        ModelLoadFailed: the context did not fit in memory.
    """
    cparams = C.llama_context_default_params()
    cparams.n_ctx = n_ctx
    cparams.n_batch = min(batch_size, n_ctx)
    cparams.n_ubatch = min(batch_size, n_ctx)
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    cparams.no_perf = True
    ctx = C.llama_init_from_model(model, cparams)
    if not ctx:
        C.llama_model_free(model)
        raise ModelLoadFailed(
            f"Could not create a {n_ctx}-token context for {path.name} (not enough memory?).",
            "Lower the context length in settings.",
        )
    return ctx


def model_chat_template(model: Any, vocab: Any, buf: ctypes.Array[ctypes.c_char]) -> ChatTemplate:
    """The model's own chat template (a generic one when the file has none).

    Args:
        model: The loaded ``llama_model``.
        vocab: Its ``llama_vocab`` (for the BOS and EOS tokens' text).
        buf: A 256-byte scratch buffer for token pieces.
    """
    raw_template = C.llama_model_chat_template(model, None)
    source = raw_template.decode("utf-8", "replace") if raw_template else FALLBACK_TEMPLATE
    return ChatTemplate(
        source, bos_token=token_text(vocab, buf, C.llama_vocab_bos(vocab)),
        eos_token=token_text(vocab, buf, C.llama_vocab_eos(vocab)),
    )


def warm_up(ctx: Any, vocab: Any, mem: Any) -> None:
    """Run one tiny decode at load time, in the loader's thread, then forget it.

    llama.cpp allocates compute buffers and pages in weights on the first decode; doing it
    here keeps that cost off the user's first answer.
    """
    bos = C.llama_vocab_bos(vocab)
    token = bos if bos >= 0 else 0
    arr = (C.llama_token * 1)(token)
    C.llama_decode(ctx, C.llama_batch_get_one(arr, 1))
    C.llama_memory_clear(mem, True)

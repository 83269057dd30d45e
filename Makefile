# The two commands of the README: `make run` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
CONFIG  ?= config/simulate.toml

.PHONY: run test lint typecheck unit system-deps system-deps-run install bench soak clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Start the daemon on simulated hardware with SQLite under ./var/
run: system-deps-run $(VENV)/.installed
	$(VENV)/bin/door-gateway run --config $(CONFIG)

## Install everything the tests need, then ruff, mypy and pytest
test: system-deps $(VENV)/.installed lint typecheck unit

system-deps:
	bash scripts/system-deps.sh test

system-deps-run:
	bash scripts/system-deps.sh run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gateway tests benchmarks scripts
	$(VENV)/bin/ruff format --check gateway tests benchmarks scripts
	$(PY) scripts/check_hw_imports.py
	$(PY) scripts/check_layers.py

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy gateway

unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q

## The package under real systemd: a cached Debian root (scripts/debian-root.sh, arm64
## through qemu by default) booted with systemd-nspawn; needs root. docs/testing.md
SYSTEM_ARCH ?= arm64
.PHONY: system-test
system-test: $(VENV)/.installed
	root=$$(bash scripts/debian-root.sh $(SYSTEM_ARCH) | tail -n 1) && \
	DOOR_GATEWAY_SYSTEM_TEST=1 DOOR_GATEWAY_TEST_ROOT="$$root" \
	$(VENV)/bin/pytest -q -x -s -p no:cacheprovider tests/system

bench: $(VENV)/.installed
	$(PY) -m benchmarks
	$(PY) -m benchmarks.stream_load

soak: $(VENV)/.installed
	@echo "no soak tests yet"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

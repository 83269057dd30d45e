# The two commands of the README: `make run` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
CONFIG  ?= config/simulate.toml
DEB_ARCH ?= arm64

.PHONY: run test lint typecheck unit system-deps system-deps-run install bench soak clean deb unit-check

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Start the daemon on simulated hardware with SQLite under ./var/
run: system-deps-run $(VENV)/.installed
	$(VENV)/bin/door-gateway run --config $(CONFIG)

## Install everything the tests need, then ruff, mypy, the systemd unit's checks and pytest
test: system-deps $(VENV)/.installed lint typecheck unit-check unit

system-deps:
	bash scripts/system-deps.sh test

system-deps-run:
	bash scripts/system-deps.sh run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gateway tests benchmarks scripts
	$(VENV)/bin/ruff format --check gateway tests benchmarks scripts
	$(PY) scripts/check_hw_imports.py
	$(PY) scripts/check_layers.py

## systemd-analyze verify, and security --offline with a threshold of 2.5 ("OK")
unit-check:
	bash scripts/check-unit.sh systemd/door-gateway.service

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy gateway

unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q

## The Debian package for a Pi: dist/door-gateway_VERSION_ARCH.deb, VERSION from
## debian/changelog (today dist/door-gateway_0.1.0-1_arm64.deb); DEB_ARCH=armhf for a
## Pi 3 / Zero 2 on a 32-bit system. Checked by lintian. docs/packaging.md
deb:
	bash scripts/build-deb.sh $(DEB_ARCH)

## The package under real systemd: built for SYSTEM_ARCH, installed with apt in a cached
## Debian root (scripts/debian-root.sh; arm64 runs through qemu) booted with
## systemd-nspawn. Needs root. docs/testing.md
SYSTEM_ARCH ?= arm64
.PHONY: system-test
system-test: $(VENV)/.installed
	$(MAKE) deb DEB_ARCH=$(SYSTEM_ARCH)
	root=$$(bash scripts/debian-root.sh $(SYSTEM_ARCH) | tail -n 1) && \
	deb=$$(ls -t dist/door-gateway_*_$(SYSTEM_ARCH).deb | head -n 1) && \
	DOOR_GATEWAY_SYSTEM_TEST=1 DOOR_GATEWAY_TEST_ROOT="$$root" DOOR_GATEWAY_DEB="$$deb" \
	$(VENV)/bin/pytest -q -x -s -p no:cacheprovider tests/system

bench: $(VENV)/.installed
	$(PY) -m benchmarks
	$(PY) -m benchmarks.stream_load

soak: $(VENV)/.installed
	@echo "no soak tests yet"

clean:
	rm -rf $(VENV) var build dist .pytest_cache .mypy_cache .ruff_cache

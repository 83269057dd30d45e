# The two commands of the README: `make run` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
CONFIG  ?= config/simulate.toml
DEB_ARCH ?= arm64

.PHONY: run test lint typecheck unit system-deps system-deps-run install bench soak clean deb unit-check \
	hw-test image-smoke fleet

# What running needs (the project and its run-time dependencies), then what testing adds.
$(VENV)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-run
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Start the daemon on simulated hardware with SQLite under ./var/. Installs only what
## running needs: Debian's gcc, swig, libpcsclite-dev (pyscard builds from source) and
## python3-venv/python3-dev, then the project in .venv without the test tools.
run: system-deps-run $(VENV)/.installed-run
	$(VENV)/bin/door-gateway run --config $(CONFIG)

## Install everything the tests need, then ruff, mypy, the systemd unit's checks and pytest
test: system-deps $(VENV)/.installed lint typecheck unit-check unit

system-deps:
	bash scripts/system-deps.sh test

system-deps-run:
	bash scripts/system-deps.sh run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gateway tests benchmarks scripts hw-tests
	$(VENV)/bin/ruff format --check gateway tests benchmarks scripts hw-tests
	$(PY) scripts/check_hw_imports.py
	$(PY) scripts/check_layers.py
	shellcheck $$(find image scripts -name '*.sh' -type f | sort)

## systemd-analyze verify, and security --offline with a threshold of 2.5 ("OK"), for
## every unit of systemd/ (the daemon's and Super Mode's)
unit-check:
	for unit in systemd/*.service; do bash scripts/check-unit.sh "$$unit" || exit 1; done

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy gateway hw-tests

unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q

## On a Raspberry Pi wired as docs/hw-test-harness.md: the daemon on real GPIO (skips elsewhere)
HARNESS ?= hw-tests/harness.toml
hw-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,pi]'
	DOOR_GATEWAY_HARNESS=$(HARNESS) $(VENV)/bin/pytest -q -rs -p no:cacheprovider hw-tests

## The image layer's steps on a debootstrapped bookworm arm64 root, booted under
## systemd-nspawn (root; a few minutes; not part of make test): image/README.md
image-smoke:
	bash image/smoke.sh $(DEB)

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

## Every figure of the README's Performance section against its target, for 10,000 and
## 100,000 users (BENCH_FULL=1 adds 1,000,000): a table, and benchmarks/results.json.
## Exit 0 whatever the figures; the table says FAIL. Then two figures of their own.
bench: $(VENV)/.installed
	$(PY) -m benchmarks
	$(PY) -m benchmarks.stream_load
	$(PY) -m benchmarks.keypad_idle

## The fleet: FLEET_GATEWAYS simulated gateways (one process) publishing through one real
## mosquitto for FLEET_SECONDS, one subscriber checking every event arrived; the figures
## in benchmarks/fleet.json (README, "Fleet"; docs/fleet.md). A 5-gateway form is in make test.
FLEET_GATEWAYS ?= 100
FLEET_SECONDS ?= 60
fleet: system-deps $(VENV)/.installed
	$(PY) -m benchmarks.fleet --gateways $(FLEET_GATEWAYS) --seconds $(FLEET_SECONDS) \
		--output benchmarks/fleet.json

## The soak: kill -9 at random moments, upstream chaos, reader noise and 20 credentials/s
## on the real daemon in simulation, SOAK_MINUTES in all (shared between the parts as
## tests/soak/conftest.py says); a report per part in test-artifacts/soak-*.json. A short
## form of each part runs in `make test`. README, "Reliability"
SOAK_MINUTES ?= 30
soak: $(VENV)/.installed
	SOAK_MINUTES=$(SOAK_MINUTES) $(VENV)/bin/pytest -q -s -p no:cacheprovider --timeout=3600 tests/soak

clean:
	rm -rf $(VENV) var build dist .pytest_cache .mypy_cache .ruff_cache

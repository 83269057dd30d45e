# The two commands of the README: `make run` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
CONFIG  ?= config/simulate.toml

.PHONY: run test lint typecheck unit system-deps system-deps-run install bench soak clean hw-test

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
	$(VENV)/bin/ruff check gateway tests benchmarks scripts hw-tests
	$(VENV)/bin/ruff format --check gateway tests benchmarks scripts hw-tests
	$(PY) scripts/check_hw_imports.py
	$(PY) scripts/check_layers.py

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy gateway hw-tests

unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q

## On a Raspberry Pi wired as docs/hw-test-harness.md: the daemon on real GPIO (skips elsewhere)
HARNESS ?= hw-tests/harness.toml
hw-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,pi]'
	DOOR_GATEWAY_HARNESS=$(HARNESS) $(VENV)/bin/pytest -q -rs -p no:cacheprovider hw-tests

bench: $(VENV)/.installed
	$(PY) -m benchmarks
	$(PY) -m benchmarks.stream_load

soak: $(VENV)/.installed
	@echo "no soak tests yet"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

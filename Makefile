# genejobs: `make demo` runs one complete job, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions of every dependency (CPython 3.11, Linux): what the suite was run with.
LOCK := requirements.lock
PG_DIR := $(CURDIR)/.tmp/pg-test

.PHONY: venv demo test lint test-unit test-integration test-e2e bench clean lock

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Re-resolve the lock after a change to pyproject.toml's dependencies (pins that still
# fit are kept); `make lock LOCK_FLAGS=--upgrade` moves everything to the newest releases.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --extra test $(LOCK_FLAGS) \
		-o $(LOCK)

demo: $(STAMP)
	$(BIN)/genejobs demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# PostgreSQL is started for the run and stopped even when tests fail.
# pytest's exit code 5 (no tests collected) counts as a failure.
test: $(STAMP) lint
	@set -e; mkdir -p .tmp; scripts/ensure-chromium.sh; \
	url=$$(scripts/pg-test-server.sh start $(PG_DIR)); \
	trap 'scripts/pg-test-server.sh stop $(PG_DIR)' EXIT; \
	GENEJOBS_TEST_PG_URL=$$url $(BIN)/pytest -q -p no:cacheprovider --durations=15 tests; \

test-unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/integration

test-e2e: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e

bench: $(STAMP)
	$(BIN)/python bench/bench_sample.py

clean:
	rm -rf $(VENV) .tmp demo-data build *.egg-info

# genejobs: `make demo` runs one complete job, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions of every dependency (CPython 3.11, Linux), made by `make lock`:
# LOCK is what the service runs with (deploy/Dockerfile installs it and nothing else);
# TEST_LOCK adds the demo's S3 server and the test tools, at the same versions for the
# packages both hold (it is resolved with LOCK as a constraint).
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
PG_DIR := $(CURDIR)/.tmp/pg-test

.PHONY: venv demo test lint test-unit test-integration test-e2e bench clean lock check-image

$(STAMP): pyproject.toml $(LOCK) $(TEST_LOCK) scripts/ensure-salmon.sh
	scripts/ensure-salmon.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r $(LOCK) -r $(TEST_LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Re-resolve both locks after a change to pyproject.toml's dependencies (pins that still
# fit are kept); `make lock LOCK_FLAGS=--upgrade` moves everything to the newest releases.
# The runtime lock first, then the test lock constrained by it, then a check that the
# runtime lock holds no test tool and the Dockerfile installs exactly it.
# uv lives in its own small venv, so `make lock` works before (or without) `make venv`.
UV_VENV := .tmp/uv
UV_COMPILE = $(UV_VENV)/bin/uv pip compile pyproject.toml --quiet --python-version 3.11 \
	--python-platform linux --custom-compile-command "make lock" $(LOCK_FLAGS)
lock:
	test -x $(UV_VENV)/bin/uv || { $(PYTHON) -m venv $(UV_VENV) && $(UV_VENV)/bin/pip install -q uv; }
	$(UV_COMPILE) -o $(LOCK)
	$(UV_COMPILE) --extra demo --extra test --constraint $(LOCK) -o $(TEST_LOCK)
	$(PYTHON) scripts/check_image.py

# A venv from the runtime lock alone, as the image gets it: `genejobs --version` must run.
# (Slow: a full install; not part of `make test`.)
check-image:
	$(PYTHON) scripts/check_image.py --venv .tmp/runtime-venv

demo: $(STAMP)
	$(BIN)/genejobs demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# PostgreSQL is started for the run and stopped even when tests fail (every test that
# needs a database runs on SQLite and PostgreSQL; with CI=true a missing server, salmon
# or Chromium fails the tests that need it instead of skipping them).
# pytest's exit code 5 (no tests collected) counts as a failure.
WITH_PG = set -e; mkdir -p .tmp; \
	url=$$(scripts/pg-test-server.sh start $(PG_DIR)); \
	trap 'scripts/pg-test-server.sh stop $(PG_DIR)' EXIT; \
	GENEJOBS_TEST_PG_URL=$$url

test: $(STAMP) lint
	@scripts/ensure-chromium.sh
	@$(WITH_PG) $(BIN)/pytest -q -p no:cacheprovider --durations=15 tests

test-unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

test-integration: $(STAMP)
	@$(WITH_PG) $(BIN)/pytest -q -p no:cacheprovider tests/integration

test-e2e: $(STAMP)
	@scripts/ensure-chromium.sh
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e

bench: $(STAMP)
	$(BIN)/python bench/bench_sample.py

clean:
	rm -rf $(VENV) .tmp demo-data build *.egg-info

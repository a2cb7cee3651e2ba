# Two commands do all set-up on a fresh machine with Python 3.11+:
#   make dev    start everything on embedded defaults (sandbox Airtable, embedded Postgres, Dagster UI);
#               ARGS passes options to `airtable-pg dev`, e.g. make dev ARGS='--port 3130 --sandbox-port 8830'
#   make test   run the whole test suite (installs what it needs: Chromium, PostgreSQL with TLS for the TLS tests,
#               Node.js for the airtable.js client test, Prometheus for the observability tests)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: install dev test lint browser tls-postgres node prometheus bench bench-fast-lane clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/airtable-pg dev $(ARGS)

browser:
	@scripts/ensure-chromium.sh

# The airtable.js test runs a second ecosystem's client with Node.js.
node:
	@scripts/ensure-node.sh

# The TLS tests need a PostgreSQL built with OpenSSL (pgserver's is not): Debian's, installed as root when missing.
tls-postgres: install
	@scripts/ensure-postgres-tls.sh $(BIN)/python

# The observability tests run promtool on the generated alert rules and a real Prometheus: Debian's, as root.
prometheus:
	@scripts/ensure-prometheus.sh

lint: install
	$(BIN)/ruff check .

test: install browser tls-postgres node prometheus lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m benchmarks.full_sync
	$(BIN)/python -m benchmarks.fast_lane

bench-fast-lane: install
	$(BIN)/python -m benchmarks.fast_lane

clean:
	rm -rf $(VENV) .airtable_pg

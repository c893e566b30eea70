# Switchboard: two commands for a newcomer (see README.md).
#   make run   - install, migrate and seed the embedded SQLite database, serve on :8000
#   make test  - install and run the whole suite on PostgreSQL (127.0.0.1:5432)
#   make bench - on demand only: ingest and claim benchmarks on PostgreSQL (see bench/README.md)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test bench lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi demo seed
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Flags: make bench INGEST_ARGS="--requests 2000" CLAIM_ARGS="--contacts 1000 --agents 4"
# Both always run; the target fails if either failed (e.g. a double claim).
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.ingest $(INGEST_ARGS); ingest=$$?; \
	$(BIN)/python -m bench.claim $(CLAIM_ARGS); claim=$$?; \
	test $$ingest -eq 0 && test $$claim -eq 0

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

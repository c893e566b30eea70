# Switchboard: two commands for a newcomer (see README.md).
#   make run   - install, migrate and seed the embedded SQLite database, then run the API on
#                :8000 (HOST, PORT), the worker, the SLA scan and a webhook receiver
#                (:8001, RECEIVER_PORT) from Procfile.dev; Ctrl-C stops all
#   make test  - install and run the whole suite on PostgreSQL (127.0.0.1:5432)
#   make chart-test - render, lint and check the Helm chart offline (helm/tests, own venv)
#   make bench - on demand only: ingest, claim, report, portfolio, billing, worker-memory, web,
#                wallboard, live streams, SLA scan and floor (at-risk list, wallboard at 1M open)
#                benchmarks on PostgreSQL, then one summary
#                table (bench/README.md, bench/RESULTS.md)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp
CHART_VENV  := .venv-chart
CHART_STAMP := $(CHART_VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
# make run's demo webhook receiver (Procfile.dev's `webhooks`), beside the API.
RECEIVER_PORT ?= $(shell expr $(PORT) + 1)

.PHONY: install run test chart-test bench lint format clean vendor translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

# The demo may send webhooks to a receiver on this machine (plain http, loopback).
run: export SWITCHBOARD_WEBHOOK_ALLOW_INSECURE_URLS ?= true
run: export SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS ?= true
run: export HOST := $(HOST)
# Tokens, the metadata URLs and the docs page's sign-in name the address the API is reached at.
run: export SWITCHBOARD_OAUTH_ISSUER ?= http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
# Each demo firm's SLA webhooks go to the demo receiver, which prints them.
run: export RECEIVER_PORT := $(RECEIVER_PORT)
run: export SWITCHBOARD_DEMO_WEBHOOK_URL ?= http://127.0.0.1:$(RECEIVER_PORT)/webhooks
# honcho runs Procfile.dev's processes (the API on PORT, the worker, the SLA scan every 5 s,
# the webhook receiver), prefixes their output with their names and stops all on Ctrl-C.
run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi demo seed
	$(BIN)/honcho -f Procfile.dev start --port $(PORT)

# The suite in one process per CPU (pytest-xdist): each has its own database and ports.
TEST_WORKERS ?= auto
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# The Helm chart's tests need no app dependencies and the app needs none of theirs.
$(CHART_STAMP): helm/requirements-test.txt
	$(PYTHON) -m venv $(CHART_VENV)
	$(CHART_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHART_VENV)/bin/python -m pip install --quiet -r helm/requirements-test.txt
	touch $(CHART_STAMP)

chart-test: $(CHART_STAMP)
	$(CHART_VENV)/bin/python -m pytest -q -p no:cacheprovider helm/tests

# Flags: make bench INGEST_ARGS="--requests 2000" CLAIM_ARGS="--contacts 1000 --agents 4"
#        REPORT_ARGS="--contacts 50000" BILLING_ARGS="--contacts 50000 --tenants 10"
#        PORTFOLIO_ARGS="--firms 5 --contacts 200000"
#        MEMORY_ARGS="--requests 5000" WEB_ARGS="--contacts 50000 --requests 20"
#        WALLBOARD_ARGS="--tenants 10 --queues 40 --agents 100 --runs 20"
#        STREAMS_ARGS="--streams 100 --kind page" SCAN_ARGS="--open 100000 --firms 10"
# All always run, each writing its headline figures to $(BENCH_OUT); bench.table then prints
# one summary table and, for a full-size run only, appends it to $(BENCH_RECORD) (empty: never).
# The target fails if any failed (e.g. a double claim, a report disagreement, a leak).
BENCH_OUT    ?= bench/out
BENCH_RECORD ?= bench/RESULTS.md
bench: $(BENCH_STAMP)
	mkdir -p $(BENCH_OUT) && rm -f $(BENCH_OUT)/*.json
	$(BIN)/python -m bench.ingest --json-out $(BENCH_OUT)/ingest.json $(INGEST_ARGS); ingest=$$?; \
	$(BIN)/python -m bench.claim --json-out $(BENCH_OUT)/claim.json $(CLAIM_ARGS); claim=$$?; \
	$(BIN)/python -m bench.report --json-out $(BENCH_OUT)/report.json $(REPORT_ARGS); report=$$?; \
	$(BIN)/python -m bench.portfolio --json-out $(BENCH_OUT)/portfolio.json $(PORTFOLIO_ARGS); \
	portfolio=$$?; \
	$(BIN)/python -m bench.billing --json-out $(BENCH_OUT)/billing.json $(BILLING_ARGS); billing=$$?; \
	$(BIN)/python -m bench.memory --json-out $(BENCH_OUT)/memory.json $(MEMORY_ARGS); memory=$$?; \
	$(BIN)/python -m bench.web --json-out $(BENCH_OUT)/web.json $(WEB_ARGS); web=$$?; \
	$(BIN)/python -m bench.wallboard --json-out $(BENCH_OUT)/wallboard.json $(WALLBOARD_ARGS); \
	wallboard=$$?; \
	$(BIN)/python -m bench.streams --json-out $(BENCH_OUT)/streams.json $(STREAMS_ARGS); streams=$$?; \
	$(BIN)/python -m bench.scan --json-out $(BENCH_OUT)/scan.json $(SCAN_ARGS); scan=$$?; \
	$(BIN)/python -m bench.floor --json-out $(BENCH_OUT)/floor.json $(FLOOR_ARGS); floor=$$?; \
	$(BIN)/python -m bench.table --dir $(BENCH_OUT) $(if $(BENCH_RECORD),--record $(BENCH_RECORD)); \
	table=$$?; \
	test $$ingest -eq 0 && test $$claim -eq 0 && test $$report -eq 0 && test $$portfolio -eq 0 \
		&& test $$billing -eq 0 && test $$memory -eq 0 && test $$web -eq 0 \
		&& test $$wallboard -eq 0 && test $$streams -eq 0 && test $$scan -eq 0 \
		&& test $$floor -eq 0 && test $$table -eq 0

# The web app's browser files (htmx, Chart.js; axe-core for the tests), re-fetched from the npm
# registry at the versions pinned in app/web/vendor.py and checked against its integrity hashes.
vendor: install
	$(BIN)/python -m app.web.vendor

# Extract the web app's strings, merge them into each language's catalog, and compile the
# catalogs the app reads (both are committed; tests/test_translations.py checks they agree).
TRANSLATIONS := app/web/translations
translations: install
	$(BIN)/pybabel extract -F app/web/babel.cfg -k _l -k lazy_gettext -o $(TRANSLATIONS)/messages.pot app
	$(BIN)/pybabel update --no-fuzzy-matching -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(CHART_VENV) .pytest_cache .ruff_cache

# Two commands matter: `make run` serves the API, `make test` proves it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export FLASK_APP := app

.PHONY: install install-dev db run dev test test-fast lint clean cluster cluster-stop bench

# Two stamps: serving needs only requirements.txt; the test, lint and client
# tools (requirements-dev.txt: Playwright, mypy...) come with make test, lint, bench.
$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed  ## What serving needs, nothing more

install-dev: $(BIN)/.installed-dev  ## Also the test, lint and client tools

db: install  ## Create or upgrade the schema (and the dev secret) in instance/
	$(BIN)/flask db upgrade

run: db  ## Serve with gunicorn on $(HOST):$(PORT)
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m serving --config gunicorn.conf.py wsgi:app

# The mail sender beside it (make run has one in each worker); Ctrl-C stops both.
dev: db  ## Flask's development server with auto-reload, same database, and the mail sender
	$(BIN)/flask mail send & \
	HOST=$(HOST) PORT=$(PORT) $(BIN)/flask run --debug --host $(HOST) --port $(PORT); \
	kill $$! 2>/dev/null; wait

cluster: install  ## Three gunicorn instances behind nginx (HTTPS on CLUSTER_PORT, 8443)
	BIN=$(abspath $(BIN)) deploy/cluster.sh start

cluster-stop:  ## Stop the instances and nginx started by `make cluster`
	deploy/cluster.sh stop

test: install-dev  ## Every test, live servers (gunicorn, nginx, chromium) included; CI runs this
	$(BIN)/pytest

# Two workers, as the machine has two cores; in one process when the tests
# share a Redis database (TEST_REDIS_URL), as tests/conftest.py explains.
test-fast: install-dev  ## Every test that needs no live server, for the edit-test loop
	$(BIN)/pytest -m "not live" $(if $(TEST_REDIS_URL),,-n 2)

lint: install-dev
	$(BIN)/ruff check app serving tests wsgi.py gunicorn.conf.py deploy migrations
	$(BIN)/mypy app serving tests

bench: install-dev  ## Load test against a bare-Flask baseline (needs wrk); see bench/README.md
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The two commands of the README: `make demo` and `make test`. Everything else is their parts.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean bench bench-quick

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

## demo: install, migrate an SQLite database, load the demo data, serve on http://127.0.0.1:8000
demo: $(STAMP)
	DEBUG=true $(BIN)/python manage.py migrate --verbosity 0
	DEBUG=true $(BIN)/python manage.py load_demo_data
	DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:8000

## test: the whole test suite (DATABASE_URL chooses the database; SQLite by default)
test: $(STAMP)
	$(BIN)/pytest

## bench: every benchmark in full (PostgreSQL on 127.0.0.1:5432, or JWEB_BENCH_PG); JSON in bench/results/
BENCHMARKS := login_throughput http_floor request_overhead helpdesk_search push_latency mandate_day
bench: $(STAMP)
	for name in $(BENCHMARKS); do $(BIN)/python -m bench.$$name || exit 1; done

## bench-quick: each benchmark's short mode (CI runs it so that none of them rots)
bench-quick: $(STAMP)
	for name in $(BENCHMARKS); do $(BIN)/python -m bench.$$name --quick || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles

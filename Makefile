# pvplatform: `make run` serves the demo on http://127.0.0.1:5000, `make test` runs the suite.
# Works from a fresh clone with only python3 (and its venv module) installed.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp, not the folder, records the install: a changed pyproject.toml reinstalls.
VENV_STAMP := $(VENV)/.installed
TRANSLATIONS := pvplatform/translations
LANGS := fr en

HOST ?= 127.0.0.1
PORT ?= 5000
PV_CONFIG ?= development
GUNICORN_BIND ?= 127.0.0.1:8000
GUNICORN_WORKERS ?= 2
PYTEST_ARGS ?=
# Both runs use both cores: SQLite is in memory per process, and on PostgreSQL each xdist worker
# gets its own database (tests/conftest.py).
PYTEST_WORKERS ?= 2
BENCH_ARGS ?=

FLASK := $(BIN)/flask --app wsgi

.PHONY: help venv .venv translations messages db demo run test lint bench serve-gunicorn \
	clean distclean

help:
	@echo "make run             install, migrate, load the demo, serve on http://$(HOST):$(PORT) with a worker"
	@echo "make test            ruff + bandit + pytest on SQLite (and PostgreSQL if PV_TEST_POSTGRES_URL)"
	@echo "                     extra pytest arguments: make test PYTEST_ARGS='-k vote -x'"
	@echo "make db              apply migrations (instance/ SQLite, or DATABASE_URL)"
	@echo "make demo            load the demo process (safe to run again)"
	@echo "make messages        extract messages and update the fr/en catalogues"
	@echo "make translations    compile the catalogues"
	@echo "make lint | bench | serve-gunicorn | clean | distclean"

venv .venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev]"
	@touch $@

translations: $(VENV_STAMP)
	@if compgen -G "$(TRANSLATIONS)/*/LC_MESSAGES/*.po" > /dev/null; then \
		$(BIN)/pybabel compile -d $(TRANSLATIONS) -f --statistics; \
	else \
		echo "no translation catalogue yet (make messages creates them)"; \
	fi

messages: $(VENV_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k _ln:1,2 -k lazy_ngettext:1,2 -k phrase -k plural_phrase:1,2 \
		--project pvplatform -o messages.pot .
	@for lang in $(LANGS); do \
		if [ -f $(TRANSLATIONS)/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update -i messages.pot -d $(TRANSLATIONS) -l $$lang || exit 1; \
		else \
			$(BIN)/pybabel init -i messages.pot -d $(TRANSLATIONS) -l $$lang || exit 1; \
		fi; \
	done

db: $(VENV_STAMP)
	PV_CONFIG=$(PV_CONFIG) $(FLASK) db upgrade

demo: db
	PV_CONFIG=$(PV_CONFIG) $(FLASK) pv demo

# The background worker (flags refresh) runs beside the web server and stops with it.
run: $(VENV_STAMP) translations db
	PV_CONFIG=$(PV_CONFIG) $(FLASK) pv demo --if-empty
	@PV_CONFIG=$(PV_CONFIG) $(FLASK) pv worker & worker=$$!; \
	trap 'kill $$worker 2> /dev/null; wait $$worker' EXIT INT TERM; \
	PV_CONFIG=$(PV_CONFIG) $(FLASK) run --host $(HOST) --port $(PORT)

# The SQLite run ignores a PV_TEST_DATABASE_URL from the environment; with PV_TEST_POSTGRES_URL
# the suite runs a second time on PostgreSQL, without the browser tests: their live server works
# on a file-backed SQLite database whatever the run, so a second pass would repeat the first. Every step runs even when an earlier one failed,
# so that one CI run reports lint and both databases; the target fails if any step failed.
test: $(VENV_STAMP) translations
	@status=0; \
	echo "== ruff check pvplatform tests"; \
	$(BIN)/ruff check pvplatform tests || status=$$?; \
	echo "== bandit -ll -r pvplatform (medium severity or more fails)"; \
	$(BIN)/bandit -q -ll -r pvplatform || status=$$?; \
	echo "== pytest on SQLite"; \
	env -u PV_TEST_DATABASE_URL $(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS) || status=$$?; \
	if [ -n "$${PV_TEST_POSTGRES_URL:-}" ]; then \
		echo "== pytest on PostgreSQL"; \
		PV_TEST_DATABASE_URL="$$PV_TEST_POSTGRES_URL" $(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal \
		-m "not browser" $(PYTEST_ARGS) || status=$$?; \
	else \
		echo "(PV_TEST_POSTGRES_URL not set: PostgreSQL run skipped)"; \
	fi; \
	exit $$status

lint: $(VENV_STAMP)
	$(BIN)/ruff check pvplatform tests config.py wsgi.py $(wildcard bench/*.py)

bench: $(VENV_STAMP)
	@if [ -f bench/run.py ]; then \
		$(BIN)/python bench/run.py $(BENCH_ARGS); \
	else \
		echo "no benchmark yet (bench/run.py)"; \
	fi

# Production-like serving. Set DATABASE_URL, SECRET_KEY, PV_BASE_URL and PV_CONFIG=production
# behind HTTPS.
serve-gunicorn: $(VENV_STAMP) translations db
	@PV_CONFIG=$(PV_CONFIG) $(FLASK) pv worker & worker=$$!; \
	trap 'kill $$worker 2> /dev/null; wait $$worker' EXIT INT TERM; \
	PV_CONFIG=$(PV_CONFIG) $(BIN)/gunicorn -w $(GUNICORN_WORKERS) -b $(GUNICORN_BIND) \
		--access-logfile - wsgi:app

clean:
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis build bench/out
	find $(TRANSLATIONS) -name '*.mo' -delete 2>/dev/null || true

# Also removes the virtualenv; the instance/ folder (database, secret key) is kept.
distclean: clean
	rm -rf $(VENV) *.egg-info

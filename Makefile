# Developer entry points. `make demo` runs the example project, `make test` the test suite;
# both set up everything they need first (system packages, .venv, the frontend bundle).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
TOX_ARGS ?=
# `make tox` needs python3.10 ... python3.13 on PATH. With pyenv, the shims only answer for the
# versions that are active, so scripts/pyenv-versions.sh lists every installed 3.10-3.13 for
# PYENV_VERSION; it prints nothing (and changes nothing) where pyenv is absent.
PYENV_ALL = $(shell scripts/pyenv-versions.sh 2>/dev/null)

.PHONY: help venv system-deps services frontend demo test test-all-dbs lint tox bench bench-deps bench-smoke bench-instructions reliability fuzz clean

help:
	@echo "make demo          run the example project at http://127.0.0.1:8000 (SQLite)"
	@echo "make test          install what is missing, then run the test suite (PYTEST_ARGS=...)"
	@echo "make test-all-dbs  run the suite on SQLite, PostgreSQL, MariaDB, and with the Redis cache"
	@echo "make lint          ruff check, ruff format --check, mypy"
	@echo "make tox           the Python x Django matrix (TOX_ARGS=...)"
	@echo "make bench | fuzz | clean"

venv: $(VENV)/.installed

# Reinstall only when the packaging metadata changes; the stamp makes a second run instant.
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

system-deps:
	scripts/install-system-deps.sh

# Start PostgreSQL, MariaDB and Redis if they are not answering, and create the databases.
services:
	scripts/services.sh

frontend:
	@if [ -f example_project/frontend/build.sh ]; then \
		bash example_project/frontend/build.sh; \
	else \
		echo "frontend: example_project/frontend/build.sh not found, skipping"; \
	fi

demo: venv frontend
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py example_setup
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: system-deps venv frontend
	$(BIN)/pytest $(PYTEST_ARGS)

# The e2e (browser) tests run once, on SQLite: they test the browser, not the database.
test-all-dbs: system-deps venv frontend services
	SUPERTOKENS_TEST_DB=sqlite $(BIN)/pytest $(PYTEST_ARGS)
	SUPERTOKENS_TEST_DB=postgres $(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)
	SUPERTOKENS_TEST_DB=mariadb $(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)
	SUPERTOKENS_TEST_CACHE=redis $(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy supertokens_django

tox: venv
	$(if $(PYENV_ALL),PYENV_VERSION=$(PYENV_ALL)) $(BIN)/tox $(TOX_ARGS)

# The peers (simplejwt, knox, ...) are benchmark-only dependencies, never runtime ones.
bench-deps: venv system-deps services
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt

bench: bench-deps
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# Instructions per request under valgrind: steady where timings are not (minutes per case).
bench-instructions: bench-deps
	$(BIN)/python benchmarks/instructions.py $(BENCH_ARGS)

# A few seconds of every benchmark, so that the suite cannot rot (CI runs it).
bench-smoke: bench-deps
	$(BIN)/python benchmarks/run.py --smoke $(BENCH_ARGS)

# The reliability suite at the issue's full strength (200 rounds per race, a 60-second soak).
reliability: venv services
	SUPERTOKENS_RELIABILITY_ITERATIONS=200 SUPERTOKENS_RELIABILITY_SOAK_SECONDS=60 \
	  $(BIN)/pytest tests/reliability --timeout=900 $(PYTEST_ARGS)

# The property-based (Hypothesis) tests with many more examples than a normal run.
fuzz: venv
	$(BIN)/pytest -m hypothesis --hypothesis-profile=fuzz --timeout=0 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .tox build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache \
		.coverage .coverage.* htmlcov artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# AgentOps Replay. `make test` and `make demo` set up everything they need themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test test-sqlite test-postgres lint format run migrate bench demo clean

setup:
	@./scripts/bootstrap.sh

# The whole suite, on PostgreSQL when DATABASE_URL points there, on SQLite otherwise.
test: setup
	@case "$${DATABASE_URL:-}" in \
	  postgres*) echo "== test suite on PostgreSQL ($${DATABASE_URL%%@*}@...)";; \
	  *) echo "== test suite on SQLite (set DATABASE_URL=postgres://... for PostgreSQL)";; \
	esac
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres:
	DATABASE_URL=$${PG_URL:-postgres://postgres@127.0.0.1:5432/agentops} $(MAKE) test

test-sqlite:
	env -u DATABASE_URL $(MAKE) test

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: setup
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py runserver 127.0.0.1:$${PORT:-8000}

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var/*.sqlite3 .pytest_cache .ruff_cache

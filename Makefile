# AgentOps Replay. `make test` and `make demo` set up everything they need themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test test-sqlite test-postgres lint typecheck format run migrate bench demo demo-otel clean

setup:
	@./scripts/bootstrap.sh

# The whole suite, on PostgreSQL when DATABASE_URL points there, on SQLite otherwise.
# Property tests run a tenth of their examples unless HYPOTHESIS_PROFILE=ci (as CI sets it):
# see sdk/tests/hypothesis_profiles.py.
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

# A long property-based run of every API operation against the OpenAPI schema and of every
# admin list against hostile query strings (make test runs a short, fixed one of each).
# AGENTOPS_FUZZ_EXAMPLES: examples per operation and per list; the seed is printed first,
# and AGENTOPS_FUZZ_SEED=<that seed> replays the run.
.PHONY: fuzz
fuzz: setup
	@seed=$${AGENTOPS_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "== fuzz seed $$seed (replay: make fuzz AGENTOPS_FUZZ_SEED=$$seed)"; \
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} \
	AGENTOPS_FUZZ_SEED=$$seed AGENTOPS_FUZZ_EXAMPLES=$${AGENTOPS_FUZZ_EXAMPLES:-1000} \
	  $(PY) -m pytest tests/security/test_schemathesis.py tests/security/test_admin_fuzz.py \
	  $(PYTEST_ARGS)

# Style and complexity, Django's checks, no model change without its migration, the import
# layers (pyproject.toml: tool.importlinter), then the types (make typecheck).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/lint-imports
	@$(MAKE) --no-print-directory typecheck

# mypy with the Django and REST framework stubs on the SDK and the service layer; the files
# and options are in pyproject.toml (tool.mypy).
typecheck: setup
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: setup
	$(PY) manage.py migrate --noinput

# The service and the export worker (PDF reports and long exports are made off the request
# path, by compliance.jobs); Ctrl-C stops both.
run: migrate
	@trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py export_worker & worker=$$!; \
	$(PY) manage.py runserver 127.0.0.1:$${PORT:-8000}

bench: setup
	$(PY) bench/run_all.py

# 20 million stored events against an empty database (bench/growth.py). The first run fills
# the database agentops_growth (about 40 minutes on the reference machine; resumable), later
# runs reuse it. GROWTH_ARGS: e.g. --fill-only, --measure-only, --rounds 5.
.PHONY: bench-growth
bench-growth: setup
	$(PY) bench/growth.py $(GROWTH_ARGS)
	@echo "(make bench runs it with every other benchmark, in one table)"

# The main job end to end: service on a free loopback port, the LangChain demo agent, exports
# verified offline; ends with AUTHORITATIVE_EVIDENCE. See scripts/demo.sh.
demo:
	@VENV=$(VENV) ./scripts/demo.sh

# The same path with an agent instrumented only with OpenTelemetry, exporting OTLP/HTTP.
demo-otel:
	@VENV=$(VENV) DEMO_AGENT=examples/otel_demo/run_demo.py DEMO_NAME="make demo-otel" ./scripts/demo.sh

clean:
	rm -rf $(VENV) var/*.sqlite3 .pytest_cache .ruff_cache

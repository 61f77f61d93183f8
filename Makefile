# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint typecheck format migrate demo serve bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

serve:
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## make run: venv, install, migrate, demo data (prints the admin password), serve on 127.0.0.1:8000
run: demo serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make typecheck: mypy with django-stubs, strict on the pure modules and cbpconfig/ (pyproject.toml)
typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## make test: lint, types, Django checks, migrations check, the whole pytest suite on a fresh test database
test: install lint typecheck
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis

.PHONY: proof audit

## make proof: the proof suite in tests/proof (not part of `make test`): schemathesis with every
## check (platform write key and institution key), the authorization matrix over every route,
## hostile input to every write, fault drills against its own PostgreSQL/Redis/gunicorn, and the
## pip-audit verdict logic. Prints each part's findings and wall time; PROOF_ARGS go to pytest.
proof: install
	@start=$$(date +%s); \
	$(BIN)/pytest tests/proof -p no:cacheprovider --show-capture=no --tb=short $(PROOF_ARGS); \
	status=$$?; \
	echo "make proof: $$(( $$(date +%s) - start ))s (see var/proof/report.txt)"; \
	exit $$status

## make audit: known vulnerabilities in the installed dependencies: pip-audit where OSV or PyPI's
## per-release JSON answers, else the committed advisory snapshot (security/README.md); fails when
## a package has a known vulnerability and when no package could be checked (scripts/pip_audit.sh)
audit: install
	bash scripts/pip_audit.sh

.PHONY: drills

## make drills: the recovery and failover drills in tests/drills (not part of `make test`), each on
## its own scratch PostgreSQL clusters, redis-servers, sentinels, HAProxy and gunicorn on
## 127.0.0.1:17300-17499: point-in-time recovery with pgBackRest, replica reads and PostgreSQL
## failover, Redis Sentinel failover, a rolling restart behind HAProxy (docs/operations.md).
## Bounded to DRILLS_BUDGET seconds; prints each drill's duration, failed requests, p99 and longest
## request (also in var/drills/report.txt). Needs Debian's postgresql, pgbackrest, redis-server,
## redis-sentinel, haproxy and socat; DRILLS_ARGS go to pytest.
DRILLS_BUDGET ?= 600
drills: install
	@start=$$(date +%s); \
	timeout --kill-after=30 $(DRILLS_BUDGET) $(BIN)/pytest tests/drills -p no:cacheprovider --tb=short $(DRILLS_ARGS); \
	status=$$?; \
	[ $$status -eq 124 ] && echo "make drills: stopped at its budget of $(DRILLS_BUDGET)s"; \
	echo "make drills: $$(( $$(date +%s) - start ))s of $(DRILLS_BUDGET)s (see var/drills/report.txt)"; \
	exit $$status

.PHONY: monitoring

## make monitoring: the monitoring proof with the real tools (also part of `make test`): promtool
## check/test of the rules, amtool routes, and a live gunicorn (two workers), postgres_exporter,
## redis_exporter, Prometheus and Alertmanager on 127.0.0.1:17020-17025 (tests/e2e/
## test_monitoring_stack.py), plus the log levels. Needs Debian's prometheus,
## prometheus-alertmanager, prometheus-postgres-exporter and prometheus-redis-exporter.
MONITORING_BUDGET ?= 300
monitoring: install
	@start=$$(date +%s); \
	timeout --kill-after=30 $(MONITORING_BUDGET) $(BIN)/pytest -p no:cacheprovider --tb=short \
		tests/integration/test_deploy_manifests.py tests/integration/test_logging_levels.py \
		tests/unit/test_logging.py tests/e2e/test_monitoring_stack.py $(MONITORING_ARGS); \
	status=$$?; \
	echo "make monitoring: $$(( $$(date +%s) - start ))s of $(MONITORING_BUDGET)s"; \
	exit $$status

.PHONY: e2e

## make e2e: the end-to-end suite (tests/e2e): gunicorn on the real PostgreSQL and Redis, driven
## by Debian's Chromium through Playwright (never `playwright install`); screenshots of each
## step of the console's journeys under var/e2e-screenshots/. E2E_ARGS go to pytest.
e2e: install
	$(BIN)/pytest tests/e2e $(E2E_ARGS)

.PHONY: bench-floor

## make bench-floor: hot reads against the framework floor in one run (the team's shared perf kit,
## kept beside the checkout as ../shared/perf; needs wrk, PostgreSQL and Redis). Prints figures only.
bench-floor:
	@test -x ../shared/perf/ratio.sh || { echo "bench-floor: ../shared/perf/ratio.sh is not beside this checkout"; exit 2; }
	bash ../shared/perf/ratio.sh .

# TSOps everyday commands. `make run` and `make test` work from nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test stop lint format migrations-check deploy-check bench clean

# requirements.lock is what production runs (the Docker image); requirements-dev.lock adds the
# embedded servers of `make run` and the test tools, at the same versions.
$(STAMP): requirements.lock requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m tsops.run

# The suite runs in TEST_WORKERS parallel processes (pytest-xdist), each with a test database and
# Redis databases of its own (three measured slower than two on a 2-core machine).
# PYTEST_ARGS="-n 0" runs it in one process.
TEST_WORKERS ?= 2

test: install
	$(PY) -m tsops.embedded start
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

stop:
	@test -x $(PY) && $(PY) -m tsops.embedded stop || echo "nothing to stop"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install
	$(PY) -m tsops.embedded start
	$(PY) manage.py makemigrations --check --dry-run

deploy-check: install
	TSOPS_ENV=production SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
	IDENTIFIER_HASH_KEY=check DATABASE_URL=postgres://tsops@db.invalid/tsops \
	REDIS_URL=redis://redis.invalid:6379/0 ALLOWED_HOSTS=tsops.example.com \
	$(PY) manage.py check --deploy --fail-level WARNING

bench: install
	$(PY) -m tsops.embedded start
	$(PY) -m bench $(BENCH_ARGS)

clean: stop
	rm -rf $(VENV) .data

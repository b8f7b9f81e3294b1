# The two commands a newcomer needs: `make run` and `make test`. Everything else is plumbing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cat requirements.lock | cksum | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-installed-$(shell cat requirements.lock requirements-demo.lock | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.test-installed-$(shell cat requirements.lock requirements-demo.lock requirements-test.lock | cksum | cut -d' ' -f1)
# npm ci empties node_modules first, so a stamp inside it is gone whenever the folder is.
NODE_STAMP := node_modules/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000
# make serve: gunicorn's worker processes (2 x cores + 1, as gunicorn suggests) and the host names
# the portal answers to (set ALLOWED_HOSTS to the public name behind a proxy).
WORKERS ?= $(shell echo $$(( 2 * $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1 )))
ALLOWED_HOSTS ?= $(HOST)

.PHONY: help run serve test lint install install-demo install-test worker lock check clean dr-drill

help:
	@echo "make run    install, migrate, load the demo data once and serve http://$(HOST):$(PORT)"
	@echo "make serve  production settings: migrate, collect static files, gunicorn ($(WORKERS) workers)"
	@echo "            and the background worker (manage.py worker) on http://$(HOST):$(PORT) (SECRET_KEY: see README)"
	@echo "make test   install and run the whole test suite (SQLite, or PostgreSQL with DATABASE_URL)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make check  Django's deployment checks with production-like settings"
	@echo "make lock   re-pin the requirements locks (runtime, demo, test) from pyproject.toml"
	@echo "make dr-drill  the disaster drill: lose the database server, come back twice (root, PostgreSQL 15)"

# Find a Python 3.12+: an explicit PYTHON=..., then python3.13/python3.12/python3 on PATH (each is
# run, so a pyenv shim for a version that is not selected is skipped), then pyenv's versions.
$(PY):
	@if [ -n "$(PYTHON)" ]; then candidates="$(PYTHON)"; else \
	  pyenv_root="$${PYENV_ROOT:-$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)}"; \
	  candidates="python3.14 python3.13 python3.12 python3 $$(ls -d "$$pyenv_root"/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -rV)"; \
	fi; \
	for c in $$candidates; do \
	  if "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then found="$$c"; break; fi; \
	done; \
	if [ -z "$$found" ]; then \
	  echo "No Python 3.12 or newer found (tried: $$candidates)." >&2; \
	  echo "Install one (e.g. 'apt-get install python3.12 python3.12-venv' or 'pyenv install 3.13')," >&2; \
	  echo "or point to it: make run PYTHON=/path/to/python3.12" >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $$found ($$("$$found" --version))"; \
	"$$found" -m venv $(VENV)

# What runs the portal (make run, production) and, on top, what tests and lints it.
$(STAMP): $(PY) requirements.lock
	@rm -f $(VENV)/.installed-*
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

# make run's demo tenant is made up by factory-boy and Faker; production does without them.
$(DEMO_STAMP): $(STAMP) requirements-demo.lock
	@rm -f $(VENV)/.demo-installed-*
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-demo.lock
	@touch $@

$(TEST_STAMP): $(DEMO_STAMP) requirements-test.lock
	@rm -f $(VENV)/.test-installed-*
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.lock
	@touch $@

install: $(STAMP)
install-demo: $(DEMO_STAMP)
install-test: $(TEST_STAMP)

# axe-core for the browser tests' accessibility checks (test-only; the portal ships no npm code).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Without npm there is no axe-core: the browser tests are left out, and it says so.
ifeq ($(shell command -v npm 2>/dev/null),)
NODE_DEPS :=
NO_NPM_ARGS := -m "not browser"
else
NODE_DEPS := $(NODE_STAMP)
NO_NPM_ARGS :=
endif

# The background worker (manage.py worker), started again whenever it stops. On TERM the loop stops at
# once and kills its worker (or its pause) with it, so no worker outlives the server.
define worker_loop
( trap 'kill $$(jobs -p) 2>/dev/null; exit' TERM; \
  while true; do $(1) $(PY) manage.py worker --no-reload & wait $$!; \
    echo "The worker stopped; starting it again in 1 s." >&2; sleep 1 & wait $$!; done ) & worker=$$!; \
trap 'kill $$worker 2>/dev/null' EXIT INT TERM;
endef

run: install-demo
	@mkdir -p var
	DEBUG=true $(PY) manage.py migrate --no-input
	DEBUG=true $(PY) manage.py seed_demo
	@echo ""
	@echo "  Portal: http://$(HOST):$(PORT)/   (sign in as admin / admin)"
	@echo "  A background worker (manage.py worker) runs restores and keeps house; it is"
	@echo "  started again if it stops. Ctrl-C stops both."
	@echo ""
	@$(call worker_loop,DEBUG=true) \
	DEBUG=true $(PY) manage.py runserver $(HOST):$(PORT)

# Production settings (DEBUG off): SECRET_KEY from the environment, or one generated once into
# var/secret_key; ALLOWED_HOSTS=$(ALLOWED_HOSTS); DATABASE_URL as for the rest. Static files are
# collected (hashed names) and served by whitenoise from gunicorn; no demo data. The worker loop
# is make run's.
serve: install
	@mkdir -p var
	@if [ -z "$$SECRET_KEY" ] && [ ! -s var/secret_key ]; then \
	  ( umask 077; $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key ); \
	  echo "No SECRET_KEY given: generated one into var/secret_key (used from now on)."; \
	fi
	@export DEBUG=false ALLOWED_HOSTS='$(ALLOWED_HOSTS)' SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}"; \
	$(PY) manage.py migrate --no-input && \
	$(PY) manage.py collectstatic --no-input || exit 1; \
	echo ""; \
	echo "  Portal: http://$(HOST):$(PORT)/ (gunicorn, $(WORKERS) workers; ALLOWED_HOSTS=$(ALLOWED_HOSTS))"; \
	echo "  It redirects plain HTTP to HTTPS: put a TLS proxy in front that sets X-Forwarded-Proto,"; \
	echo "  or try it without one: make serve SECURE_SSL_REDIRECT=false"; \
	echo "  A background worker (manage.py worker) runs restores and keeps house; it is"; \
	echo "  started again if it stops. Ctrl-C stops both."; \
	echo ""; \
	$(call worker_loop,) \
	$(PY) -m gunicorn -c portal/gunicorn.conf.py --bind $(HOST):$(PORT) --workers $(WORKERS)

# The disaster drill (docs/operations.md): scratch clusters on ports of their own, never the main
# one; pgBackRest is installed from Debian's packages first if missing. DRILL_ARGS="--rows 1000000"
# for the figures of docs/benchmarks.md.
dr-drill: install
	@command -v pgbackrest >/dev/null 2>&1 || deploy/pg-dr install pgbackrest
	$(PY) deploy/drill.py $(DRILL_ARGS)

test: install-test $(NODE_DEPS)
	@if [ -n '$(NO_NPM_ARGS)' ]; then echo "npm is not installed: the browser tests (axe-core from npm) are left out. Install npm (apt-get install npm) to run them."; fi
	DEBUG=true $(PY) -m pytest $(NO_NPM_ARGS) $(PYTEST_ARGS)

lint: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

check: install
	DEBUG=false SECRET_KEY="$$(openssl rand -hex 40)" ALLOWED_HOSTS=portal.example.test \
	  $(PY) manage.py check --deploy --fail-level WARNING

# Each lock from a fresh virtual environment: the runtime one from the dependencies alone, the
# demo one from the demo extra and the test one from the test extra (each less what the locks
# under it pin).
lock: $(PY)
	rm -rf .lock-venv && $(PY) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check .
	.lock-venv/bin/pip uninstall --quiet --yes envportal
	( echo "# What the portal needs to run (make run, production). Test tools: requirements-test.lock."; \
	  .lock-venv/bin/pip freeze ) > requirements.lock
	.lock-venv/bin/pip install --quiet --disable-pip-version-check ".[demo]"
	.lock-venv/bin/pip uninstall --quiet --yes envportal
	( echo "# The demo data generators, on top of the runtime pins (make run loads the demo tenant)."; \
	  echo "-r requirements.lock"; \
	  .lock-venv/bin/pip freeze | grep -vxFf requirements.lock ) > requirements-demo.lock
	.lock-venv/bin/pip install --quiet --disable-pip-version-check ".[test]"
	.lock-venv/bin/pip uninstall --quiet --yes envportal
	( echo "# The test and lint tools, on top of the runtime and demo pins (make test, make lint)."; \
	  echo "-r requirements-demo.lock"; \
	  .lock-venv/bin/pip freeze | grep -vxFf requirements.lock | grep -vxFf requirements-demo.lock ) > requirements-test.lock
	rm -rf .lock-venv
	@echo "requirements.lock, requirements-demo.lock and requirements-test.lock updated"

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis node_modules tests/artifacts

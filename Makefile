# The two commands a newcomer needs: `make run` and `make test`. Everything else is plumbing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cat requirements.lock | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.test-installed-$(shell cat requirements.lock requirements-test.lock | cksum | cut -d' ' -f1)
# npm ci empties node_modules first, so a stamp inside it is gone whenever the folder is.
NODE_STAMP := node_modules/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000

.PHONY: help run test lint install install-test worker lock check clean

help:
	@echo "make run    install, migrate, load the demo data once and serve http://$(HOST):$(PORT)"
	@echo "make test   install and run the whole test suite (SQLite, or PostgreSQL with DATABASE_URL)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make check  Django's deployment checks with production-like settings"
	@echo "make lock   re-pin requirements.lock and requirements-test.lock from pyproject.toml"

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

$(TEST_STAMP): $(STAMP) requirements-test.lock
	@rm -f $(VENV)/.test-installed-*
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.lock
	@touch $@

install: $(STAMP)
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

run: install
	@mkdir -p var
	DEBUG=true $(PY) manage.py migrate --no-input
	DEBUG=true $(PY) manage.py seed_demo
	@echo ""
	@echo "  Portal: http://$(HOST):$(PORT)/   (sign in as admin / admin)"
	@echo "  A background worker (manage.py worker) runs restores and keeps house; it is"
	@echo "  started again if it stops. Ctrl-C stops both."
	@echo ""
	@( while true; do DEBUG=true $(PY) manage.py worker --no-reload; \
	     echo "The worker stopped; starting it again in 1 s." >&2; sleep 1; done ) & worker=$$!; \
	trap 'pkill -P $$worker 2>/dev/null; kill $$worker 2>/dev/null' EXIT INT TERM; \
	DEBUG=true $(PY) manage.py runserver $(HOST):$(PORT)

test: install-test $(NODE_DEPS)
	@if [ -n '$(NO_NPM_ARGS)' ]; then echo "npm is not installed: the browser tests (axe-core from npm) are left out. Install npm (apt-get install npm) to run them."; fi
	DEBUG=true $(PY) -m pytest $(NO_NPM_ARGS) $(PYTEST_ARGS)

lint: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

check: install
	DEBUG=false SECRET_KEY="$$(openssl rand -hex 40)" ALLOWED_HOSTS=portal.example.test \
	  $(PY) manage.py check --deploy --fail-level WARNING

# Each lock from a fresh virtual environment: the runtime one from the dependencies alone,
# the test one from the dependencies and the test extra (less what the runtime lock pins).
lock: $(PY)
	rm -rf .lock-venv && $(PY) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check .
	.lock-venv/bin/pip uninstall --quiet --yes envportal
	( echo "# What the portal needs to run (make run, production). Test tools: requirements-test.lock."; \
	  .lock-venv/bin/pip freeze ) > requirements.lock
	.lock-venv/bin/pip install --quiet --disable-pip-version-check ".[test]"
	.lock-venv/bin/pip uninstall --quiet --yes envportal
	( echo "# The test and lint tools, on top of the runtime pins (make test, make lint)."; \
	  echo "-r requirements.lock"; \
	  .lock-venv/bin/pip freeze | grep -vxFf requirements.lock ) > requirements-test.lock
	rm -rf .lock-venv
	@echo "requirements.lock and requirements-test.lock updated"

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis node_modules tests/artifacts

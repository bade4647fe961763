# ecportal: `make run` starts the whole portal on embedded defaults, `make test` runs everything.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WEB_PORT ?= 8000
CFSIM_PORT ?= 9000
CFSIM_ROUTER_PORT ?= 9080
SMTP_PORT ?= 1025
export WEB_PORT CFSIM_PORT CFSIM_ROUTER_PORT SMTP_PORT

.PHONY: install run test lint bench services clean

# The newest Python >= 3.12 on the PATH or under pyenv; pyenv shims are skipped because they
# fail unless PYENV_VERSION selects them.
PYTHON_FOR_VENV := $(shell bash scripts/find-python.sh)

$(STAMP): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON_FOR_VENV)" ]; then \
	  echo "error: ecportal needs Python 3.12 or newer; none found on the PATH or under pyenv." >&2; \
	  echo "Install one (e.g. 'pyenv install 3.13') and run make again." >&2; exit 1; fi
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then rm -rf $(VENV); fi
	@[ -x $(PY) ] || $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) scripts/run.py

services:
	@bash scripts/ensure-services.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install services
	@bash scripts/test.sh

bench: install services
	@bash scripts/bench.sh

clean:
	rm -rf $(VENV) var

# The two set-up commands (see README): `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP_QUIET := --quiet --disable-pip-version-check

IAC_VENV := .venv-iac
CHECKOV := BC_SKIP_MAPPING=TRUE $(IAC_VENV)/bin/checkov --framework bicep --compact --quiet --skip-download

.PHONY: install browser run test lint typecheck unit iac bench chaos clean

$(STAMP): requirements.txt requirements.lock requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install $(PIP_QUIET) --upgrade pip 2> >(grep -v "^WARNING: Location" >&2)
	@$(PY) -m pip install $(PIP_QUIET) -r requirements-dev.txt 2> >(grep -v "^WARNING: Location" >&2)
	@$(PY) -m pip install $(PIP_QUIET) --no-deps --no-build-isolation -e . 2> >(grep -v "^WARNING: Location" >&2)
	@touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18+ and npm (Azurite runs on it)"; exit 1; }
	@npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP) node_modules/.package-lock.json

# The posture report is tested in headless Chromium: Debian's chromium and its driver, installed when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "chromium is missing and apt-get is not here: install Debian's chromium and chromium-driver"; exit 1; }; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { \
	    $$SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver >/dev/null; }; }

run: install
	$(PY) -m sandbox run $(ARGS)

lint: install
	$(PY) -m ruff check .

typecheck: install
	$(PY) -m mypy shared functions sandbox bench cli tools function_app.py

unit: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

# Checkov has its own venv: its pinned dependencies would fight the app's. graph-permissions.bicep is left
# out because Checkov cannot parse `extension` lines (tests/test_bicep.py parses it instead).
$(IAC_VENV)/.installed:
	@test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	@$(IAC_VENV)/bin/python -m pip install $(PIP_QUIET) "checkov>=3.2,<4" 2> >(grep -v "^WARNING: Location" >&2)
	@touch $@

iac: $(IAC_VENV)/.installed
	$(CHECKOV) -d bicep --skip-path graph-permissions.bicep --skip-path api-app.bicep

test: lint typecheck iac unit

# The attack suite in full (make test runs its short form): one JSON summary.
chaos: install
	$(PY) -m bench.chaos

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(IAC_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache

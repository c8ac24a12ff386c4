# Custos: the two commands.
#   make run   - set up everything and start Custos on its embedded defaults
#   make test  - set up everything (with dev tools) and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test setup setup-dev system web lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@ $(VENV)/.installed

system:
	@bash scripts/install-system.sh

# Front-end packages the app serves itself (pinned in web/package-lock.json).
web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	npm ci --prefix web --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

web: system web/node_modules/.package-lock.json

setup: system web $(VENV)/.installed

setup-dev: system web $(VENV)/.installed-dev

run: setup
	$(BIN)/custos init
	$(BIN)/custos serve --host $(HOST) --port $(PORT)

test: setup-dev
	scripts/run-tests $(PYTEST_ARGS)

# Only the venv: no system packages, no root.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: setup-dev
	@for b in bench/*.py; do echo "== $$b" >&2; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) web/node_modules .pytest_cache .mypy_cache .ruff_cache

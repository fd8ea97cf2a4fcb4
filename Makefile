# The README's two commands: `make run` (dashboard) and `make test` (test suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-fast lint bench install install-dev system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	@echo "Dashboard: http://localhost:$(PORT)  (Ctrl+C to stop)"
	$(BIN)/python -m streamlit run dashboard/app.py --server.port $(PORT)

system-deps:
	bash scripts/system_deps.sh

test: install-dev system-deps
	$(BIN)/python -m pytest -q

test-fast: install-dev
	bash scripts/system_deps.sh wordnet-base  # the browser tests are left out: no chromium needed
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: install-dev
	$(BIN)/python -m ruff check .

bench: install-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache

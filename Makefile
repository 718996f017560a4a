# tradelib — the two README commands (`make demo`, `make test`) do all set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_VENV ?= .venv-bench
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help venv system-deps lint typecheck test test-fast test-notebooks demo dashboards lab cron bench bench-venv mutation clean

help:
	@echo "make demo   - set up (if needed) and run the demo on the embedded simulated market"
	@echo "make test   - set up (if needed) and run lint, type checks and the whole test suite"
	@echo "make bench  - run the benchmarks and write docs/benchmarks.md"
	@echo "make dashboards / make lab / make cron - Voila dashboards, JupyterLab, the scheduler's cron line"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the browser and scheduler tests need (installed only when missing).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v crontab >/dev/null 2>&1 || missing="$$missing cron"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "warning: missing$$missing (install them with your package manager)"; \
	  fi; \
	fi

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports --no-logo

typecheck: venv
	$(BIN)/mypy

test: venv system-deps lint typecheck
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-notebooks

# Research notebooks run top to bottom under nbval (lax: plots; NBVAL_CHECK_OUTPUT cells are compared).
test-notebooks: venv
	@if ls notebooks/research/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/pytest -p no:cacheprovider --nbval-lax --nbval-current-env notebooks/research; \
	fi

# The quick loop: no slow or browser tests, spread over the cores (pytest-xdist).
test-fast: venv
	$(BIN)/pytest -x -q -n auto -m "not slow and not browser"

# Mutation testing of the pure core (long, so not part of `make test`): one mutmut run per
# package under nice, then the kill rate and the survivors go to docs/mutation.md.
# `make mutation MUTATION_PACKAGES="risk sync"` runs a subset (the report keeps the others).
MUTATION_PACKAGES ?= execution risk entry variance sync rules pricing regime
mutation: venv
	@$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[dev,mutation]'
	@mkdir -p mutants
	@for p in $(MUTATION_PACKAGES); do \
	  echo "mutation: tradelib.$$p (log: mutants/run-$$p.log)"; \
	  nice -n 19 $(BIN)/mutmut run --max-children 2 "tradelib.$$p.*" > mutants/run-$$p.log 2>&1 \
	    || { tail -20 mutants/run-$$p.log; exit 1; }; \
	done
	$(BIN)/python tests/mutation_report.py docs/mutation.md

# BROKER=ib drives the demo through ib_async and the simulated TWS gateway.
BROKER ?= sim
demo: venv
	$(BIN)/tradelib demo --broker $(BROKER)

# Serve the Voila dashboards (monitoring, futures) on 127.0.0.1.
dashboards: venv
	$(BIN)/tradelib dashboards

# JupyterLab on the workspace (127.0.0.1 only).
lab: venv
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser $$( [ "$$(id -u)" = "0" ] && echo --allow-root )

# Install the one cron line that runs `tradelib tick` every minute.
cron: venv system-deps
	$(BIN)/tradelib schedule install

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet py_vollib_vectorized py_vollib==1.0.1 py_lets_be_rational==1.0.1
	touch $@

bench-venv: $(BENCH_VENV)/.installed

bench: venv bench-venv
	$(BIN)/python benchmarks/run_all.py --out docs/benchmarks.md

clean:
	rm -rf data runs .pytest_cache .mypy_cache .ruff_cache

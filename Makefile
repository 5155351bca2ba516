# Garant: the two commands (and a few more). Everything installs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: serve test bench lint typecheck system-deps clean-db help

help:
	@echo "make serve   install, migrate the SQLite database, load the demo, serve http://$(HOST):$(PORT)/"
	@echo "make test    install test tools and system packages, run ruff, mypy and the whole suite"
	@echo "make bench   run the benchmarks and print the figures"

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@

serve: $(VENV)/.installed
	$(BIN)/garant init
	$(BIN)/garant serve --host $(HOST) --port $(PORT)

system-deps:
	bash scripts/install-system-deps.sh

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

test: system-deps $(VENV)/.installed-test lint typecheck
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

PEERS := .venv-peers

$(PEERS)/.installed: bench/requirements-peers.txt
	$(PY) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q -r bench/requirements-peers.txt
	touch $@

bench: $(VENV)/.installed-test $(PEERS)/.installed
	$(BIN)/python bench/run.py

clean-db:
	rm -f var/garant.db var/garant.db-wal var/garant.db-shm

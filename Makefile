# Deep Learning, Side by Side — every set-up step is a target; each installs what it needs first.
#   make lab      JupyterLab on lessons/ (installs the course .venv on first use)
#   make test     the whole test suite
#   make bench    benchmarks (ratios measured in one run)
#   make release  regenerate student copies in lessons/ from solutions/ (LESSON=02 for one)

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
LESSON ?= all
PYTEST_ARGS ?=
export JUPYTER_CONFIG_PATH := $(CURDIR)/grading
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install lab test test-fast bench release check validate doctor clean-venv

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; v=sys.version_info[:2]; sys.exit(0 if v==(3,11) else "The course needs Python 3.11 (found %d.%d). Install python3.11, or run: make PYTHON=/path/to/python3.11 ..." % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned course environment into $(VENV) (first time: ~3 minutes, ~8 GB)..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lab: $(STAMP)
	@mkdir -p grading/exchange
	@if [ -n "$$DISPLAY" ] || [ "$$(uname)" = Darwin ]; then BROWSER_FLAG=""; else BROWSER_FLAG="--no-browser"; fi; \
	if [ "$$(id -u)" = 0 ]; then BROWSER_FLAG="$$BROWSER_FLAG --allow-root"; fi; \
	echo "Starting JupyterLab on lessons/ — open the http://127.0.0.1:$(PORT)/lab?token=... link printed below."; \
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.port=$(PORT) --ServerApp.ip=127.0.0.1 \
	  --LabApp.default_url=/lab/tree/lessons $$BROWSER_FLAG

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

release: $(STAMP)
	$(BIN)/python -m grading release $(LESSON)

check: $(STAMP)
	$(BIN)/python -m grading check $(LESSON)

validate: $(STAMP)
	$(BIN)/python -m grading validate $(LESSON)

doctor: $(STAMP)
	$(BIN)/python -m helpers.env

clean-venv:
	rm -rf $(VENV)

# Deep Learning, Side by Side — every set-up step is a target; each installs what it needs first.
#   make lab      JupyterLab on lessons/ (installs the course .venv on first use)
#   make test     the whole test suite
#   make bench    benchmarks (ratios measured in one run)
#   make release  regenerate student copies in lessons/ from solutions/ (LESSON=02 for one)
#   make student-bundle  dist/dl-side-by-side-student(.tar.gz): lessons + helpers + its own make lab, no answers
#   sudo make hub ROSTER=roster.csv INSTRUCTORS=teacher   the class's JupyterHub (see grading/hub/README.md)
#   sudo make publish LESSON=01 [DUE="2026-12-08 23:59"] / collect / grade-hub / feedback-hub / status

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# The install stamp is named after a hash of what is installed (requirements.lock + pyproject.toml), not
# their dates: a fresh clone installs once, then starts in seconds; an edited lock reinstalls.
INSTALL_HASH := $(shell cat requirements.lock pyproject.toml 2>/dev/null | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)
STAMP  := $(VENV)/.installed-$(INSTALL_HASH)
PORT   ?= 8888
LESSON ?= all
PYTEST_ARGS ?=
# make test BROWSER=0 skips the browser tests (no Chromium needed)
BROWSER ?= 1
# grading/: the course's nbgrader config; grading/hub/jupyter/common: JupyterLab without the news pop-up
export JUPYTER_CONFIG_PATH := $(CURDIR)/grading:$(CURDIR)/grading/hub/jupyter/common
# nbgrader shells out to `alembic` (gradebook migrations): the course's .venv/bin comes first on PATH
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 3

# The class hub's state (hub database, exchange, course folder): survives restarts
export HUB_STATE ?= /srv/dl-side-by-side
ROSTER ?=
INSTRUCTORS ?=
DUE ?=
CHP := grading/hub/node_modules/.bin/configurable-http-proxy

.PHONY: install browser-deps grader-deps queue-deps lab test test-fast bench release check validate doctor clean-venv student-bundle \
        hub hub-deps publish collect grade-hub feedback-hub status

install: $(STAMP)

$(STAMP):
	@$(PYTHON) -c 'import sys; v=sys.version_info[:2]; sys.exit(0 if v==(3,11) else "The course needs Python 3.11 (found %d.%d). Install python3.11, or run: make PYTHON=/path/to/python3.11 ..." % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned course environment into $(VENV) (first time: ~3 minutes, ~8 GB)..."
	@# (the grep hides this machine's pip.conf notices about absent local wheel folders)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock 2>&1 \
	  | { grep -v "is ignored: it is neither a file nor a directory" || true; }; exit $${PIPESTATUS[0]}
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
	  | { grep -v "is ignored: it is neither a file nor a directory" || true; }; exit $${PIPESTATUS[0]}
	@rm -f $(VENV)/.installed-*; echo $(INSTALL_HASH) > $(VENV)/.installed; touch $(STAMP)

lab: $(STAMP)
	@mkdir -p grading/exchange
	@if [ -n "$$DISPLAY" ] || [ "$$(uname)" = Darwin ]; then BROWSER_FLAG=""; else BROWSER_FLAG="--no-browser"; fi; \
	if [ "$$(id -u)" = 0 ]; then BROWSER_FLAG="$$BROWSER_FLAG --allow-root"; fi; \
	echo "Starting JupyterLab on lessons/ — open the http://127.0.0.1:$(PORT)/lab/tree/lessons?token=... link printed below."; \
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.port=$(PORT) --ServerApp.ip=127.0.0.1 \
	  --LabApp.default_url=/lab/tree/lessons $$BROWSER_FLAG

# $(call apt-need,COMMAND,DEBIAN PACKAGES,WHAT FOR,SHELL IF NOT ROOT): as root, install the packages if
# COMMAND is missing; otherwise run the last argument (it says what to do) and fail.
define apt-need
command -v $(1) >/dev/null 2>&1 || { \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "Installing $(3)..."; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
  else \
    $(strip $(4)); exit 1; \
  fi; }
endef

# The browser tests drive Debian's Chromium (no browser download): install it if it is missing.
browser-deps:
	@[ "$(BROWSER)" = 0 ] || $(call apt-need,chromium,chromium,Chromium (Debian package) for the browser tests,\
	  echo "The browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'"; \
	  echo "(or run everything else: make test BROWSER=0)")

# The grader's sandbox is bubblewrap (Debian package): install it if it is missing (as root).
grader-deps:
	@$(call apt-need,bwrap,bubblewrap,bubblewrap (Debian package) for the grader's sandbox,\
	  echo "The grader's sandbox needs bubblewrap: run 'sudo apt-get install bubblewrap'")

# Grading through a queue (grading/queue.md): Debian's RabbitMQ (the broker) and PostgreSQL (a gradebook
# several machines share), both started by the tests themselves in temp folders (not as system services).
queue-deps:
	@$(call apt-need,/usr/lib/rabbitmq/bin/rabbitmq-server,rabbitmq-server,RabbitMQ (Debian package) for the grading queue,\
	  echo "Grading through the queue needs RabbitMQ: run 'sudo apt-get install rabbitmq-server postgresql'")
	@$(call apt-need,/usr/lib/postgresql/15/bin/initdb,postgresql,PostgreSQL (Debian package) for a shared gradebook,\
	  echo "A gradebook several machines share needs PostgreSQL: run 'sudo apt-get install postgresql'")

test: $(STAMP) browser-deps grader-deps queue-deps
	@$(MAKE) --no-print-directory hub-deps || echo "(no hub proxy: tests/test_hub*.py will be skipped)"
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(if $(filter 0,$(BROWSER)),-m "not browser") $(PYTEST_ARGS)

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

# the learner's checks (versions, import order, widgets), then each instructor solution graded in a real sandbox
doctor: $(STAMP)
	$(BIN)/python -m helpers.env
	@if [ -d solutions ]; then $(BIN)/python -m grading doctor; fi

# The student copy for laptops (no solutions/, no hidden tests, no grader, no instructor UI); every file
# is scanned for answers before the tarball is written.
student-bundle: $(STAMP)
	$(BIN)/python -m grading.bundle --out dist

# ---- the class hub -------------------------------------------------------------------------------
# configurable-http-proxy, pinned in grading/hub/package-lock.json, into grading/hub/node_modules
# (Node and npm from Debian's packages if they are missing).
hub-deps: $(CHP)

$(CHP): grading/hub/package.json grading/hub/package-lock.json
	@$(call apt-need,npm,nodejs npm,Node.js and npm (Debian packages) for the hub's proxy,\
	  echo "The hub's proxy needs Node.js and npm: sudo apt-get install nodejs npm")
	cd grading/hub && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# sudo make hub ROSTER=roster.csv INSTRUCTORS=teacher[,other]   (first time, or after editing the roster)
# sudo make hub                                                  (later starts: the state is kept)
hub: $(STAMP) hub-deps
	@[ "$$(id -u)" = 0 ] || { echo "make hub creates a system account per student: run it as root (sudo make hub ...)"; exit 1; }
	@if [ -n "$(ROSTER)" ]; then \
	  $(BIN)/python -m grading.hub setup --roster "$(ROSTER)" --instructors "$(INSTRUCTORS)" || exit 1; \
	elif [ ! -f "$(HUB_STATE)/hub/class.json" ]; then \
	  echo "First start: sudo make hub ROSTER=roster.csv INSTRUCTORS=teacher (roster: CSV id,name)"; exit 1; fi
	$(BIN)/python -m grading.hub start

publish: $(STAMP)
	$(BIN)/python -m grading.exchange publish $(LESSON) $(if $(DUE),--due "$(DUE)")

collect: $(STAMP)
	@[ "$(LESSON)" != all ] || { echo "name the lesson: make collect LESSON=01 [BEFORE_DUE=1]"; exit 1; }
	$(BIN)/python -m grading.exchange collect $(LESSON) $(if $(BEFORE_DUE),--before-due)

grade-hub: $(STAMP)
	$(BIN)/python -m grading.exchange course grade $(LESSON)

feedback-hub: $(STAMP)
	@[ "$(LESSON)" != all ] || { echo "name the lesson: make feedback-hub LESSON=01"; exit 1; }
	$(BIN)/python -m grading.exchange course feedback $(LESSON)
	$(BIN)/python -m grading.exchange release-feedback $(LESSON)

status: $(STAMP)
	@$(BIN)/python -m grading.exchange status $(LESSON)

clean-venv:
	rm -rf $(VENV)

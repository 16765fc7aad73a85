# Two commands do all the set-up on a fresh Debian machine with Python 3.11: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
KERNEL := bedrock-tracker

.PHONY: demo test check lab bench install clean browser

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or run: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Bedrock Usage Tracker (Python)" >/dev/null
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# headless Chromium for the report tests (Debian package; skipped when already there)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

demo: install
	$(VENV)/bin/bedrock-tracker demo --jobs 2

test: install browser
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# the fast loop: the import contracts and every test that starts no kernel, subprocess or emulator
check: install
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -m "not slow"

# every benchmark in one run (about 15 minutes; the data are generated once into .bench/), then one summary line
bench: install
	@mkdir -p .bench
	$(PY) benchmarks/collect.py --records 200000 --skip-demo | tee .bench/collect200k.txt
	$(PY) benchmarks/collect.py --skip-demo | tee .bench/collect1m.txt
	$(PY) benchmarks/chain.py --days 30 | tee .bench/chain.txt
	@$(PY) benchmarks/summary.py .bench/collect200k.txt .bench/collect1m.txt .bench/chain.txt

# JupyterLab on the notebooks. The lab extras are installed once. As root it adds --allow-root; on a remote box:
# `make lab IP=0.0.0.0 PORT=8899` (headless: no browser is opened), or any jupyter options in LAB_ARGS.
IP ?= 127.0.0.1
PORT ?= 8888
LAB_STAMP := $(VENV)/.lab-installed
$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[lab]"
	@touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	cd notebooks && ../$(VENV)/bin/jupyter lab --notebook-dir=. --MultiKernelManager.default_kernel_name=$(KERNEL) \
	  --ip=$(IP) --port=$(PORT) $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) \
	  $$( [ "$(IP)" != 127.0.0.1 ] && echo --no-browser ) $(LAB_ARGS)

clean:
	rm -rf outputs demo_account

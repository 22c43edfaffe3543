# Two commands on a fresh machine (see README):
#   make demo   set up .venv (torch pinned first), run the pipeline on the embedded default data
#   make test   run the test suite (CI runs this through .ci/run)
# For a lent GPU machine (docs/devices.md):
#   make wheelhouse   download here the wheels the GPU image lacks into .whl/ (git-ignored)
#   make gpu-check    on the GPU machine: install from .whl/, smoke test, tests, GPU bench rows
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
TORCH  ?= torch==2.13.0
STAMP   = $(VENV)/.installed

.PHONY: demo test bench env clean wheelhouse gpu-check

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,models]"
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/main_job.py

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pytest bench --benchmark-only --benchmark-json=bench/results/latest.json

wheelhouse: $(STAMP)
	$(BIN)/python bench/device/wheelhouse.py --dest .whl

gpu-check:
	bash bench/device/gpu_check.sh

clean:
	rm -rf $(VENV) runs .pytest_cache .benchmarks

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

.PHONY: demo test test-py312 bench docs env clean wheelhouse gpu-check

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,test-models,models,docs,archive]"
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/main_job.py

test: $(STAMP)
	$(BIN)/python -m pytest

# The newest releases (sunpy 8 needs Python >= 3.12), without torch: the solarprep and kernels
# tests. PY312 defaults to python3.12 on PATH, else pyenv's.
PY312 ?= $(shell python3.12 -c "import sys; print(sys.executable)" 2>/dev/null \
           || ls $$HOME/.pyenv/versions/3.12*/bin/python 2>/dev/null | tail -1)
test-py312:
	$(PY312) -m venv .venv312
	.venv312/bin/python -m pip install -q --upgrade pip
	.venv312/bin/python -m pip install -q --upgrade -e ".[test]"
	.venv312/bin/python -c "import sunpy, numpy, astropy; print('sunpy', sunpy.__version__, \
	    'numpy', numpy.__version__, 'astropy', astropy.__version__)"
	.venv312/bin/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest bench --benchmark-only --benchmark-json=bench/results/latest.json

docs: $(STAMP)
	rm -rf docs/_build docs/generated docs/gallery
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

wheelhouse: $(STAMP)
	$(BIN)/python bench/device/wheelhouse.py --dest .whl

gpu-check:
	bash bench/device/gpu_check.sh

clean:
	rm -rf $(VENV) .venv312 runs .pytest_cache .benchmarks

# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg
# Every server binds 127.0.0.1; a configured proxy must never see that traffic.
export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost

.PHONY: setup system demo test notebooks bench bench-smoke bench-profile mutate clean

system:
	@bash scripts/system-deps.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,widgets,verify,census,dask,plots]'
	touch $@

setup: system $(VENV)/.installed

# Opens JupyterLab on the quickstart (its first cell starts the sandbox registry).
# HEADLESS=1 executes every notebook against the sandbox into build/notebooks (+ HTML) instead.
demo: setup
ifeq ($(HEADLESS),1)
	$(BIN)/python notebooks/build.py --out build/notebooks --html build/notebooks
else
	$(BIN)/jupyter lab --ip=127.0.0.1 --LabApp.news_url=None \
	  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate notebooks/01-quickstart.ipynb
endif

# The whole suite: unit, real-registry integration, browser, and nbval over every notebook.
# --durations: the slowest tests in every run's log, so CI's 20-minute budget is watched where it is spent.
test: setup
	$(BIN)/python -m pytest $(NBVAL) --durations=25 tests notebooks

# Re-execute the notebooks in place (their committed outputs are what nbval checks).
notebooks: setup
	$(BIN)/python notebooks/build.py

# The benchmarks' Python comparators (python-dxf, oras) and py-spy come from PyPI; curl/tar/openssl from the system.
$(VENV)/.bench-installed: pyproject.toml | $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[bench]'
	touch $@

# Benchmarks against curl, python-dxf and oras-py; writes benchmarks/results.json and README.md (< 10 min).
bench: setup $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks

# Every case with tiny sizes: checks the harness, not the figures (< 1 min); the py-spy profiler too.
bench-smoke: setup $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks --smoke
	$(BIN)/python -m benchmarks.profiling --smoke > /dev/null

# Where the time goes in the cases whose targets are missed (py-spy); writes benchmarks/PROFILE.md (~1 min).
bench-profile: setup $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks.profiling

# Break the library on purpose, one mutation at a time (scripts/mutations.toml), on copies of the
# checkout (two in parallel); each mutation runs against its AREA of the suite and must be caught
# there. Prints caught/total per area and the total time. Not part of `make test`.
# `scripts/mutate.py --area NAME`, `--only ID --pinned` (while writing a test), `--prove` (see its docstring).
mutate: setup
	$(BIN)/python scripts/mutate.py

clean:
	rm -rf build .pytest_cache

# Two entry points, both doing their own set-up on a fresh clone (and only once):
#   make run    train the main example (specs/births_sigmoids.dl, data shipped in specs/data/)
#   make test   run the whole test suite (lint, format, import contracts, types, pytest)
# Also: make test-fast (everything but the tests marked slow), make check (the static checks),
#   make reproduce (regenerate specs/README.md's result tables from real runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dlc-installed
# `dlc` as a plain folder on sys.path ($(VENV)/src/dlc -> this checkout): type checkers and
# editors follow it (they cannot follow setuptools' editable import hook), whatever this
# checkout's folder is called.
LINK   := $(VENV)/src/dlc

.PHONY: run test test-fast check lint types contracts bench fuzz reproduce reproduce-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,lsp,serve,completion,parquet,track,search]'
	mkdir -p $(VENV)/src && ln -sfn "$(CURDIR)" $(LINK)
	$(BIN)/python -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'dlc-src.pth').write_text(str(pathlib.Path('$(VENV)/src').resolve()) + '\n')"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dlc run specs/births_sigmoids.dl --plots

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

contracts: $(STAMP)
	$(BIN)/lint-imports

types: $(STAMP)
	cd $(VENV)/src && $(CURDIR)/$(BIN)/mypy --config-file "$(CURDIR)/pyproject.toml" -m dlc -p dlc.compiler -p dlc.runtime -p dlc.grammar

check: lint contracts types

# two pytest-xdist worker processes: most tests spend their time in single-threaded compiles
test: check
	$(BIN)/python -m pytest -q -n 2

test-fast: check
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/mlp_throughput.py
	$(BIN)/python bench/cnn_throughput.py
	$(BIN)/python bench/w3_fullbatch.py
	$(BIN)/python bench/lecture1.py
	$(BIN)/python bench/whole_process.py
	$(BIN)/python bench/first_step.py
	$(BIN)/python bench/vmap_lanes.py
	$(BIN)/python bench/lstm_scan.py
	$(BIN)/python bench/check_startup.py

# the long fuzz campaign (every stage, >= 20,000 inputs) and the kill-and-resume matrix
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz_campaign.py --total 20400
	$(BIN)/python tests/kill_matrix.py --trials 7

# specs/README.md's result tables from real runs (specs/reproduce.py; 7.4 min wall on the shared
# 2-core machine at load 5, 23 min at load 10-13, 2026-11-27); reproduce-quick: quick mode into
# runs/README.quick.md. `python specs/reproduce.py --render` redraws them without training.
reproduce: $(STAMP)
	$(BIN)/python specs/reproduce.py

reproduce-quick: $(STAMP)
	mkdir -p runs && cp specs/README.md runs/README.quick.md
	$(BIN)/python specs/reproduce.py --quick --readme runs/README.quick.md

clean:
	rm -rf $(VENV) runs build *.egg-info

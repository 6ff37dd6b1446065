# Two entry points, both doing their own set-up on a fresh clone (and only once):
#   make run    train the main example (specs/sigmoids.dl, data shipped in specs/data/)
#   make test   run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dlc-installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dlc run specs/sigmoids.dl

# two pytest-xdist worker processes: most tests spend their time in single-threaded compiles
test: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/mlp_throughput.py
	$(BIN)/python bench/cnn_throughput.py
	$(BIN)/python bench/check_startup.py

clean:
	rm -rf $(VENV) runs build *.egg-info

# Shelfrank: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= default
DATA ?= data/mall

.PHONY: demo test bench soak lint install clean-data

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## demo: install, simulate the default mall, train, index and serve on http://127.0.0.1:8000
demo: $(STAMP)
	SCALE=$(SCALE) DATA=$(DATA) bash scripts/demo.sh

## test: install and run the whole suite (2 workers). BLAS on one thread per worker: two workers
## already fill the two cores, and OpenBLAS's second thread only waits on the other worker (the
## Home Depot eval took twice the wall with it on a busy machine: tests/conftest.py one_blas_thread).
## Bytecode is written (in the tree's gitignored __pycache__) even where the environment sets
## PYTHONDONTWRITEBYTECODE: without it every pytest worker and every service or CLI process the
## tests start compiles the project again, and pytest re-rewrites the test modules and
## schemathesis' and hypothesis' plugin packages in every process (about 7 s of CPU per
## `pytest -n 2` start alone: docs/speed.md, "The suite's time"). No PYTHONPYCACHEPREFIX: a
## prefix would also hide the bytecode pip wrote for the installed packages, recompiled then once.
## --dist worksteal: xdist's default scheduler never takes back tests it queued on a worker, and at
## the end of a whole run one worker sat idle for 180 s while the other ran the service fuzz's
## queued groups; with worksteal an idle worker takes half of the other's queue
test: $(STAMP)
	PYTHONDONTWRITEBYTECODE= OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist worksteal --durations=15

## bench: run the benchmarks; results in bench/results.json and bench/results.md
bench: $(STAMP)
	$(BIN)/python -m bench.run

## soak: sustained load at saturation (100k requests, memory flat, zero errors); bench/soak.json
soak: $(STAMP)
	$(BIN)/python -m bench.soak

## lint: ruff over the whole tree
lint: $(STAMP)
	$(BIN)/ruff check .

clean-data:
	rm -rf data bench/out

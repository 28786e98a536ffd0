# Two commands do all set-up on a fresh machine:  make run  (the main job)  and  make test.
# Both create/refresh .venv and are fast when nothing changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    ?= runs/latest
# Extra flags for each stage, e.g.  make run TRAIN_ARGS="--epochs 3 --limit 5000"
TRAIN_ARGS   ?=
CONVERT_ARGS ?=
BENCH_ARGS   ?=

.PHONY: run test test-fast lint venv default-model pi-check clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# MNIST: $DIGITS_DATA_DIR, else ../shared/data/mnist beside the clone when it is there (no
# download needed), else the trainer's own search (Keras cache, then download).
WITH_DATA = DIGITS_DATA_DIR="$${DIGITS_DATA_DIR:-$(wildcard $(abspath ../shared/data/mnist))}"

## train -> convert (+ verify) -> benchmark, into $(RUN)
run: $(STAMP)
	$(WITH_DATA) $(BIN)/digits-train --out $(RUN) $(TRAIN_ARGS)
	$(WITH_DATA) $(BIN)/digits-convert $(RUN) $(CONVERT_ARGS)
	$(WITH_DATA) $(BIN)/digits-bench $(RUN) $(BENCH_ARGS)

## the whole test suite, slow (training) tests included
test: $(STAMP)
	$(WITH_DATA) $(BIN)/python -m pytest

test-fast: $(STAMP)
	$(WITH_DATA) $(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## regenerate the models shipped in edge_app/models from a default full training run
default-model: $(STAMP)
	$(WITH_DATA) $(BIN)/digits-train --out runs/default
	$(WITH_DATA) $(BIN)/digits-convert runs/default --formats float32,int8
	$(BIN)/python -m converter.ship runs/default edge_app/models

## the Raspberry Pi path under aarch64 emulation: edge install, digits-predict vs x86_64
## (slow, so not part of make test; cache in ~/.cache/digitlite-pi, see README)
PI_CHECK_ARGS ?=
pi-check: $(STAMP)
	$(WITH_DATA) $(BIN)/python scripts/pi_check.py $(PI_CHECK_ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache

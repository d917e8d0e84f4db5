# htflow: `make demo` and `make test` bootstrap what a fresh Debian machine lacks, then run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := quantum-espresso openmpi-bin libopenblas0-pthread \
	slurm-wlm munge slurmdbd mariadb-server libpmix-dev \
	chromium chromium-driver
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1

.PHONY: all demo test lint typecheck unit bootstrap system-deps clean

all: test

system-deps:
	@bash scripts/bootstrap-system.sh $(APT_PACKAGES)

$(BIN)/.installed: pyproject.toml | system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  apt-get install -y -qq python3-venv python3-dev && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,ml]'
	@touch $@

bootstrap: system-deps $(BIN)/.installed

lint: bootstrap
	$(BIN)/ruff check htflow tests benchmarks
	$(BIN)/ruff format --check htflow tests benchmarks

typecheck: bootstrap
	$(BIN)/mypy htflow

unit: bootstrap
	$(BIN)/pytest -n 2 --dist loadgroup --timeout 900

test: lint typecheck unit

demo: bootstrap
	@# the local SLURM stays up afterwards (htflow cluster down); output in demo-output/
	time $(BIN)/htflow demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

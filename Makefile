# The two commands of the README: `make demo` and `make test`. Each creates .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/edgesched compare synthetic-3

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/placement_speed.py
	$(BIN)/python benchmarks/dispatch_speed.py
	$(BIN)/python benchmarks/ecsrl_speed.py
	$(BIN)/python benchmarks/tapfinger.py
	$(BIN)/python benchmarks/k8s_operator.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache

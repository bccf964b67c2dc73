# The two commands: `make run` starts the whole system, `make test` runs the whole test suite.
# Both create the virtualenv and install what is needed on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test install lint contracts bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/kommunmobil up

test: install
	scripts/test-prerequisites
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy shared services tests bench

contracts: install
	$(BIN)/kommunmobil contracts

bench: install
	$(BIN)/python -m bench.events

clean:
	rm -rf $(VENV) var

# Two commands a newcomer needs: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: install demo test check lint format bench clean sample-logs

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## demo: collector + a simulated clinic + the dashboard (`make demo ARGS=--no-browser`)
demo: $(STAMP)
	$(BIN)/baton demo $(ARGS)

## test: lint, then the whole suite (browser tests skip, saying why, without Chromium)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(ARGS)

## check: format check, lint and type-check
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .baton test-artifacts .pytest_cache .ruff_cache .mypy_cache

## sample-logs: regenerate sample_logs/ (byte-identical for the same code)
sample-logs: $(STAMP)
	$(BIN)/python sample_logs/generate.py

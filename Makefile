# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo serve test lint install

$(BIN)/chatbot: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

install: $(BIN)/chatbot

# Serve on http://127.0.0.1:8000 with the demo account and chatbot, on the embedded SQLite.
demo: $(BIN)/chatbot
	$(BIN)/chatbot serve --demo

serve: $(BIN)/chatbot
	$(BIN)/chatbot serve

# torch comes first, pinned, so that the `semantic` extra finds the CPU build already there.
$(VENV)/.test-deps: $(BIN)/chatbot setup.cfg
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,semantic]'
	touch $@

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy chatbot

# Lint, type-check, then every test (PostgreSQL and Redis must be running: see README).
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

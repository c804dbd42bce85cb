# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/slackgenie demo

test: $(BIN)/.installed
	$(BIN)/python -m mypy slackgenie
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/api_calls.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

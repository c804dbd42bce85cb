# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

# Under libfaketime (`faketime -f +45d make test`, to prove no test depends on the date), keep the
# monotonic clock real and load tests/faketime/sitecustomize.py, which works around libfaketime's
# faults with Python's timed waits (see there). Without faketime neither does anything.
export FAKETIME_DONT_FAKE_MONOTONIC = 1
ifdef FAKETIME
export PYTHONPATH := $(CURDIR)/tests/faketime
endif

$(BIN)/.installed: pyproject.toml emulators/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./emulators -e '.[dev]'  # the emulators: demo and tests only
	touch $@

demo: $(BIN)/.installed
	$(BIN)/slackgenie demo

test: $(BIN)/.installed
	$(BIN)/python -m mypy slackgenie emulators/slackgenie_emulators
	$(BIN)/python -m mypy --strict slackgenie/core  # the pure core: no untyped corner
	$(BIN)/lint-imports  # the architecture's contracts: [tool.importlinter] in pyproject.toml
	$(BIN)/python -m pytest -n auto  # one worker per core: the tests use ephemeral ports and their own tmp dirs

bench: $(BIN)/.installed
	$(BIN)/python bench/api_calls.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# deploy/requirements.lock: the container image's exact dependencies with their hashes (runtime
# dependencies from pyproject.toml plus the build backend). Regenerate after changing
# [project].dependencies; `make lock LOCK_ARGS=--upgrade` also moves every pin to the newest release.
# Run it on Linux with the image's Python minor version (3.11; LOCK_PYTHON=... to pick the
# interpreter). pip-tools runs from a throwaway virtualenv, never from .venv.
.PHONY: lock
lock:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(or $(LOCK_PYTHON),python3.11) -m venv "$$tmp" && \
	"$$tmp/bin/python" -m pip install --quiet pip-tools && \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tmp/bin/pip-compile" --quiet --generate-hashes $(LOCK_ARGS) \
	  --strip-extras --all-build-deps --allow-unsafe \
	  --no-emit-index-url --no-emit-trusted-host --no-emit-find-links \
	  --output-file deploy/requirements.lock pyproject.toml

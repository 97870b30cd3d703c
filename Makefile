# The README's two commands. Each sets itself up: the first run creates .venv with the
# pinned versions of pyproject.toml; later runs reuse it (reinstalling only when
# pyproject.toml changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: book test bench clean-runs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

book: $(STAMP)
	$(PY) -m fm_core book --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m pytest -q -ra

bench: $(STAMP)
	$(PY) -m fm_core bench --out bench.json

clean-runs:
	rm -rf runs book/_build

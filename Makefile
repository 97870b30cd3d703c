# The README's two commands, and `make lab`. Each sets itself up: the first run creates
# .venv with the pinned versions of pyproject.toml and requirements-lab.txt; later runs
# reuse it (reinstalling only when one of them changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick
LAB_PORT ?= 8888
# JupyterLab reaches out to no one: no news feed, no update check, no extension listing
# from PyPI (tests/test_live_lab.py starts its lab with these same options).
LAB_OFFLINE := --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.extension_manager=readonly

.PHONY: book test test-fast bench lab clean-runs

# requirements-lab.txt says why JupyterLab comes in a second pip install. The kernel
# "fourier-masks" is registered inside .venv (--sys-prefix), so the lab started from .venv
# offers this environment by name; the notebooks' own "python3" is .venv's ipykernel too.
$(STAMP): pyproject.toml requirements-lab.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m pip install --quiet -r requirements-lab.txt
	$(PY) -m ipykernel install --sys-prefix --name fourier-masks --display-name "Fourier Masks (.venv)"
	touch $(STAMP)

# Both first obtain Fashion-MNIST (the data set fashion-mnist) in data/FashionMNIST/raw/
# ($FM_DATA_DIR's, if set): kept if readable, else Debian's package, apt-get (as root),
# torchvision's download; a machine where none works stops there with one line
# (fm_core/data/fashion_mnist.py). A stamp beside the files spares a warm clone the check
# on every run (a process start, 5 s of make test); the loaders check the files they read.
FASHION_MNIST := $(or $(FM_DATA_DIR),data)/FashionMNIST/raw/.fetched
$(FASHION_MNIST): $(STAMP)
	$(PY) -m fm_core data --get fashion-mnist
	touch $@

book: $(STAMP) $(FASHION_MNIST)
	$(PY) -m fm_core book --profile $(PROFILE)

# Two pytest-xdist workers, tests grouped so that the smoke book and each file's fixtures
# are computed once, the groups taken in the order tests/conftest.py sorts them (the smoke
# book's first: --no-loadscope-reorder); FM_TEST_WORKERS=0 runs in one process (pdb, -x)
FM_TEST_WORKERS ?= 2
XDIST := -n $(FM_TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# every test, as CI runs them; test-fast leaves out those marked slow (tests/conftest.py)
test: $(STAMP) $(FASHION_MNIST)
	$(PY) -m pytest -q -ra $(XDIST)

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra $(XDIST) -m "not slow"

bench: $(STAMP)
	$(PY) -m fm_core bench --out bench.json

# The live lab beside the static book: the notebooks of book/, run and changed by hand.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=book --ip=127.0.0.1 --port=$(LAB_PORT) --no-browser \
	    $(LAB_OFFLINE) $(if $(filter 0,$(shell id -u)),--allow-root)

clean-runs:
	rm -rf runs book/_build

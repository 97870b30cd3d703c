"""Every test runs in its own temporary artefact store and never reads the repository's
``runs/``; generated data sets go to one temporary folder shared by the session (they
are deterministic, so sharing them changes nothing but the time).

Two tiers: a test marked ``slow`` (pyproject.toml) runs in ``make test`` only, the others
in ``make test-fast`` too. Both run on two pytest-xdist workers. The smoke store is
shared by the workers (one folder; the store's locks keep two from computing one
artefact twice); the smoke book too (one file lock), and the tests that read it run
on the worker that builds it, first (:data:`SHARED_BY_GROUP`), while the other runs the
rest; the tests of ``only`` share a fixture and stay on one worker. Every test that reads the session's smoke
store or smoke book is marked here (:func:`pytest_collection_modifyitems`): computing
them takes minutes.
Tests slow for their own reasons are marked where they are defined."""
from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

# `make test`'s two xdist workers share two cores with the smoke book's two kernels: one
# torch thread per worker (and per process it starts), since threads beyond the cores
# only spin and wait (a test file took 14% more CPU with two threads beside two busy
# processes). Set before torch is imported; FM_TEST_WORKERS=0 keeps torch's default.
import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # in case torch came first

BOOK = Path(__file__).resolve().parent.parent / "book"


# Tests that share an expensive session fixture run on one xdist worker (`make test` runs
# two, --dist loadgroup), so that it is computed once; every other test runs with the
# rest of its file, so that module fixtures are computed once too. The smoke book's group
# holds every test that reads the built book: its worker starts the book first and reads
# it after, while the other worker runs everything else (when the book's readers sat in
# their files, a worker that reached one waited up to 35 s on the book's lock)
SHARED_BY_GROUP = ("smoke_book", "only_book")


def xdist_group_of(item) -> str:
    return next((name for name in SHARED_BY_GROUP if name in item.fixturenames), item.path.name)


# tryfirst: xdist reads the groups from the marks in its own modifyitems hook, which must
# come after this one. The order is the order in which the workers take the groups (the
# Makefile passes --no-loadscope-reorder): the smoke book's first, then the larger
# groups before the smaller (xdist's own reordering, by size, would hand out the book's
# 10 tests after 24 larger groups)
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    group_of = {item: xdist_group_of(item) for item in items}
    sizes = Counter(group_of.values())
    for item, group in group_of.items():
        if "smoke_runs" in item.fixturenames:  # directly, or through smoke or smoke_book
            item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: (group_of[item] != "smoke_book", -sizes[group_of[item]]))


@pytest.fixture(scope="session")
def _session_data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, _session_data_dir, monkeypatch):
    monkeypatch.setenv("FM_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    monkeypatch.setenv("FM_DATA_DIR", str(_session_data_dir))


@pytest.fixture(scope="session")
def _shared_tmp(tmp_path_factory, worker_id):
    """A temporary folder that every xdist worker of this session sees (the parent of the
    workers' own); the session's own one without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture(scope="session")
def smoke_runs(_shared_tmp):
    """One temporary store for the tests that check the smoke profile's results, shared by
    the workers: its networks and masks are computed once per session, by the first test
    that asks (the store's own locks keep two workers from computing one artefact twice)."""
    path = _shared_tmp / "smoke-runs"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def smoke(smoke_runs, monkeypatch):
    from fm_core.profiles import get_profile

    monkeypatch.setenv("FM_RUNS_DIR", str(smoke_runs))
    return get_profile("smoke")


@pytest.fixture(scope="session")
def smoke_book(_shared_tmp, _session_data_dir, smoke_runs):
    """The real book built once per session with the smoke profile, by the first test of
    either worker that asks (the other waits on the lock), into a temporary folder and the
    session's smoke store: every test that reads a built book reads this one, and the
    smoke claims (test_store.py, test_explorer.py) load the networks and masks the book
    computed. Returns (output folder, index.html)."""
    from filelock import FileLock
    from fm_core.book.build import build_book

    out, built = _shared_tmp / "smoke-book", _shared_tmp / "smoke-book.index"
    with FileLock(str(_shared_tmp / "smoke-book.lock")):
        if not built.exists():  # a build that failed leaves no mark: the next test tries again
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("FM_RUNS_DIR", str(smoke_runs))
                mp.setenv("FM_DATA_DIR", str(_session_data_dir))
                index = build_book(profile="smoke", book_dir=BOOK, output_dir=out, progress=False)
            built.write_text(str(index))
    return out, Path(built.read_text())


@pytest.fixture
def one_thread():
    """Tiny tensors: two threads only add synchronisation cost (and stall on a busy
    machine). Files of tiny-network tests use it for every test (``pytestmark``)."""
    import torch  # here, not at the top: xdist's controller process needs no torch (1.5 s)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def only_book(tmp_path_factory):
    """A book of two tiny notebooks built twice with ``only``, into an output folder of its
    own: 10_first executed (profile smoke) while 20_second is left out, then 20_second
    executed alone (profile quick, data synthetic) while 10_first is reused. Built once
    for the tests of ``only`` and of what a built page shows (a different build from the
    smoke book's: two partial builds, two profiles). Returns the book folder, the output
    folder, the html folder and the first build's report and page names."""
    import nbformat
    from fm_core.book.build import build_book, read_build_report

    root = tmp_path_factory.mktemp("only-book")
    book, out = root / "book", root / "out"
    book.mkdir()
    for entry in BOOK.iterdir():
        if entry.is_file() and entry.suffix != ".ipynb":
            shutil.copy2(entry, book / entry.name)
    for name, title in (("10_first", "First"), ("20_second", "Second")):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"),
                    nbformat.v4.new_code_cell('profile = "quick"\ndata = None\narch = None\nseed = None',
                                              metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell("print('computed', profile)")]
        nbformat.write(nb, book / f"{name}.ipynb")
    html = build_book(profile="smoke", only="10_", book_dir=book, output_dir=out, progress=False).parent
    first_report, first_pages = read_build_report(out), {p.name for p in html.glob("*.html")}
    build_book(profile="quick", data="synthetic", only="20_", book_dir=book, output_dir=out, progress=False)
    return SimpleNamespace(book=book, out=out, html=html, first_report=first_report, first_pages=first_pages)

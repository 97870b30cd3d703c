"""Every test runs in its own temporary artefact store and never reads the repository's
``runs/``; generated data sets go to one temporary folder shared by the session (they
are deterministic, so sharing them changes nothing but the time)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def _session_data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, _session_data_dir, monkeypatch):
    monkeypatch.setenv("FM_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    monkeypatch.setenv("FM_DATA_DIR", str(_session_data_dir))


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """One temporary store for the tests that check the smoke profile's results: its
    networks and masks are computed once per session, by the first test that asks."""
    return tmp_path_factory.mktemp("smoke-runs")


@pytest.fixture
def smoke(smoke_runs, monkeypatch):
    from fm_core.profiles import get_profile

    monkeypatch.setenv("FM_RUNS_DIR", str(smoke_runs))
    return get_profile("smoke")


@pytest.fixture
def one_thread():
    """Tiny tensors: two threads only add synchronisation cost (and stall on a busy
    machine). Files of tiny-network tests use it for every test (``pytestmark``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

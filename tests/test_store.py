"""The artefact store and the smoke profile's results: caching, keys, resume after a
kill, and the paper's mask claims checked on the smoke profile (the networks are the
ones the end-to-end book test trains, shared through ``runs/smoke``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from fm_core import experiments, store
from fm_core.data import load_dataset
from fm_core.masks import symmetric_part
from fm_core.models import save_model
from fm_core.profiles import get_profile
from fm_core.training import train_network


def test_keys_depend_on_what_the_artefact_depends_on(monkeypatch):
    cfg = get_profile("smoke")
    dm = store.artefact_key(cfg, store.DATASET_MASK_FIELDS, regime="vanilla")
    net_key = store.artefact_key(cfg, store.NETWORK_FIELDS, regime="vanilla")
    assert net_key == store.artefact_key(cfg, store.NETWORK_FIELDS, regime="vanilla")
    # a mask setting does not retrain networks, a training setting does
    assert net_key == store.artefact_key(cfg.replace(dmask_lam=0.5), store.NETWORK_FIELDS, regime="vanilla")
    assert net_key != store.artefact_key(cfg.replace(epochs=3), store.NETWORK_FIELDS, regime="vanilla")
    assert net_key != store.artefact_key(cfg, store.NETWORK_FIELDS, regime="rotate")
    # a new mask algorithm relearns masks, not networks
    monkeypatch.setattr(store.fm_masks, "MASKS_VERSION", store.fm_masks.MASKS_VERSION + 1)
    assert net_key == store.artefact_key(cfg, store.NETWORK_FIELDS, regime="vanilla")
    assert store.artefact_key(cfg, store.DATASET_MASK_FIELDS, regime="vanilla") != dm
    monkeypatch.undo()
    dm = store.artefact_key(cfg, store.DATASET_MASK_FIELDS, regime="vanilla")
    assert dm != store.artefact_key(cfg.replace(dmask_lam=0.5), store.DATASET_MASK_FIELDS, regime="vanilla")


def test_store_computes_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("FM_RUNS_DIR", str(tmp_path))
    cfg = get_profile("smoke", n_train=200, n_val=100, epochs=1, dmask_epochs=2)
    calls = []
    real = store.train_network

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "train_network", counting)
    a = store.get_network(cfg, "vanilla", progress=False)
    b = store.get_network(cfg, "vanilla", progress=False)
    assert len(calls) == 1
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    files = list((tmp_path / "smoke" / "networks").iterdir())
    assert {p.suffix for p in files} == {".pt", ".json"}
    assert not [p for p in files if p.name.endswith(".tmp")]
    m1 = store.get_dataset_mask(cfg, "vanilla", progress=False)
    m2 = store.get_dataset_mask(cfg, "vanilla", progress=False)
    assert np.array_equal(m1["mask"], m2["mask"]) and m1["mask"].shape == (32, 32)
    assert len(calls) == 1


# ------------------------------------------------------------- resume after a real kill
@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    cfg = get_profile("smoke", n_train=300, n_val=200, epochs=1)
    ds = load_dataset("synthetic", 32, n_train=cfg.n_train, n_val=cfg.n_val)
    model = train_network(ds, "vanilla", cfg, progress=False, device="cpu")
    path = tmp_path_factory.mktemp("model") / "vanilla.pt"
    save_model(model, path)
    return path


def _image_masks_cmd(model, out):
    return [sys.executable, "-m", "fm_core", "image-masks", "--model", str(model),
            "--limit", "96", "--batch-size", "16", "--max-steps", "40", "--patience", "5",
            "--out", str(out)]


def test_image_masks_killed_half_way_resume_to_the_same_masks(tiny_model_file, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    full = tmp_path / "full.npz"
    subprocess.run(_image_masks_cmd(tiny_model_file, full), check=True, env=env,
                   capture_output=True, timeout=600)

    killed = tmp_path / "killed.npz"
    partial = killed.with_suffix(".partial.npz")
    proc = subprocess.Popen(_image_masks_cmd(tiny_model_file, killed), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not partial.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not killed.exists(), "the run ended before it could be killed"
    done = int(np.load(partial)["done"].sum())
    assert done < 96, "the checkpoint was already complete"

    subprocess.run(_image_masks_cmd(tiny_model_file, killed), check=True, env=env,
                   capture_output=True, timeout=600)
    a, b = np.load(full), np.load(killed)
    for key in ("masks", "predictions", "final_predictions", "steps", "indices"):
        assert np.array_equal(a[key], b[key]), key
    assert not partial.exists()


# ------------------------------------------------- the paper's claims on the smoke profile
@pytest.fixture(scope="module")
def smoke():
    return get_profile("smoke")


def test_smoke_dataset_mask_keeps_accuracy(smoke):
    mask = store.get_dataset_mask(smoke, "vanilla", progress=False)
    assert mask["kept"]
    assert mask["accuracy_after"] >= 0.99 * mask["accuracy_before"]
    assert mask["mask"].mean() < 0.9  # and it did remove frequencies


def test_smoke_dataset_mask_recovers_planted_frequencies(smoke):
    ds = store.get_dataset(smoke)
    mask = store.get_dataset_mask(smoke, "vanilla", progress=False)["mask"]
    scores = experiments.ground_truth_recovery(smoke)
    vanilla = scores.loc["dataset mask, vanilla"]
    # well above chance (0.5): the planted texture frequencies are among those kept
    assert vanilla["auroc"] >= 0.9, vanilla
    from fm_core.analysis import ground_truth_scores

    direct = ground_truth_scores(symmetric_part(mask), ds.ground_truth.any(axis=0))
    assert direct["auroc"] == pytest.approx(vanilla["auroc"], abs=5e-4)  # the table rounds


def test_smoke_tables_are_computed(smoke):
    t2 = experiments.table2(smoke)
    assert t2.loc["x", "this build"] == 100.0 and t2.loc["x_A", "this build"] == 0.0
    summary = experiments.reproduction_summary(smoke)
    assert len(summary) == 10 + 5 + 4 + 1
    assert summary["this build"].notna().all()


def test_smoke_networks_read_the_planted_texture(smoke):
    table = experiments.cue_reliance(smoke)
    assert list(table.columns)[:3] == ["all frequencies", "planted + DC only", "planted removed"]
    assert len(table) == 5 and table.notna().all().all()
    vanilla = table.loc["N (vanilla)"]
    # the texture cue is what the vanilla network reads: without it, it falls towards chance
    assert vanilla["planted removed"] < vanilla["all frequencies"] - 20
    assert "cue_reliance" in store.load_results(smoke)


def test_results_are_read_back_only_for_their_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("FM_RUNS_DIR", str(tmp_path))
    cfg = get_profile("smoke")
    store.save_result(cfg, "table1", {"vanilla": 1})
    assert store.load_results(cfg) == {"table1": {"vanilla": 1}}
    # same folder, another data set or another mask algorithm: not this run's result
    assert store.load_results(cfg.replace(data_seed=1)) == {}
    monkeypatch.setattr(store.fm_masks, "MASKS_VERSION", store.fm_masks.MASKS_VERSION + 1)
    assert store.load_results(cfg) == {}


def test_reproduction_summary_reuses_the_pages_results(smoke, monkeypatch):
    experiments.reproduction_summary(smoke)  # every table stored for this configuration

    def refit(*args, **kwargs):
        raise AssertionError("recomputed a table the store already held")

    for name in ("table1", "table2", "table3"):
        monkeypatch.setattr(experiments, name, refit)
    assert len(experiments.reproduction_summary(smoke)) == 10 + 5 + 4 + 1

"""The artefact store and the pipeline: caching, keys that follow settings *and code*,
resume after a kill, garbage in the store, and the paper's mask claims checked on the
smoke profile (in a temporary store of this session, never the repository's runs/)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fm_core import paths, store
from fm_core.pages import adversarial_reversal, ground_truth, networks, reproduction
from fm_core.store import pipeline
from fm_core.science.analysis import ground_truth_scores
from fm_core.data import load_dataset
from fm_core.fourier import symmetric_part
from fm_core.nets.models import save_model
from fm_core.profiles import REGIMES, get_profile
from fm_core.nets.training import train_network


def _key(cfg, fields, code, **extra):
    return store.artefact_key(pipeline._settings(cfg, fields, **extra), code)


def test_tests_never_use_the_repository_store():
    assert paths.runs_root() != paths.REPO_ROOT / "runs"
    assert paths.data_dir() != paths.REPO_ROOT / "data"


def test_keys_depend_on_the_settings_of_what_the_artefact_depends_on():
    cfg = get_profile("smoke")
    net = _key(cfg, pipeline.NETWORK_FIELDS, pipeline.NETWORK_CODE, regime="vanilla")
    assert net == _key(cfg, pipeline.NETWORK_FIELDS, pipeline.NETWORK_CODE, regime="vanilla")
    # a mask setting does not retrain networks, a training setting does
    assert net == _key(cfg.replace(dmask_lam=0.5), pipeline.NETWORK_FIELDS, pipeline.NETWORK_CODE, regime="vanilla")
    assert net != _key(cfg.replace(epochs=3), pipeline.NETWORK_FIELDS, pipeline.NETWORK_CODE, regime="vanilla")
    assert net != _key(cfg, pipeline.NETWORK_FIELDS, pipeline.NETWORK_CODE, regime="rotate")
    dm = _key(cfg, pipeline.DATASET_MASK_FIELDS, pipeline.DATASET_MASK_CODE, regime="vanilla")
    assert dm != _key(cfg.replace(dmask_lam=0.5), pipeline.DATASET_MASK_FIELDS, pipeline.DATASET_MASK_CODE,
                      regime="vanilla")


_KEYS_SCRIPT = """
import json
from fm_core import store
from fm_core.store import pipeline
from fm_core.profiles import get_profile
cfg = get_profile("smoke")
def key(fields, code):
    return store.artefact_key(pipeline._settings(cfg, fields, regime="vanilla"), code)
print(json.dumps({"network": key(pipeline.NETWORK_FIELDS, pipeline.NETWORK_CODE),
                  "dataset_mask": key(pipeline.DATASET_MASK_FIELDS, pipeline.DATASET_MASK_CODE),
                  "image_masks": key(pipeline.IMAGE_MASK_FIELDS, pipeline.IMAGE_MASK_CODE),
                  "results": store.package_code_hash()}))
"""


def _keys_of(package_parent: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(package_parent))
    out = subprocess.run([sys.executable, "-c", _KEYS_SCRIPT], env=env, cwd=package_parent,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_editing_the_mask_learner_relearns_masks_not_networks(tmp_path):
    """An edit of one line of the dataset-mask learner changes the dataset masks' keys
    (and the results'), not the networks' or the single-image masks'."""
    source = Path(pipeline.__file__).resolve().parents[1]  # the whole package, not store/
    copies = {}
    for name in ("original", "edited"):
        shutil.copytree(source, tmp_path / name / "fm_core", ignore=shutil.ignore_patterns("__pycache__"))
        copies[name] = tmp_path / name
    learner = copies["edited"] / "fm_core" / "masks" / "dataset_masks.py"
    text = learner.read_text()
    learner.write_text(text.replace("    kept = accuracy_after >= keep_ratio * accuracy_before",
                                    "    kept = accuracy_after >= keep_ratio * accuracy_before  # an edit", 1))
    assert learner.read_text() != text
    before, after = _keys_of(copies["original"]), _keys_of(copies["edited"])
    assert before["network"] == after["network"]
    assert before["image_masks"] == after["image_masks"]
    assert before["dataset_mask"] != after["dataset_mask"]
    assert before["results"] != after["results"]


def test_store_computes_once_then_loads(monkeypatch):
    cfg = get_profile("smoke", n_train=200, n_val=100, epochs=1, dmask_max_steps=20)
    calls = []
    real = pipeline.train_network

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "train_network", counting)
    a = pipeline.get_network(cfg, "vanilla", progress=False)
    b = pipeline.get_network(cfg, "vanilla", progress=False)
    assert len(calls) == 1
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    files = list((store.runs_dir("smoke") / "networks").iterdir())
    assert {p.suffix for p in files} == {".pt", ".json"}
    assert not [p for p in files if p.name.endswith(".tmp")]
    m1 = pipeline.get_dataset_mask(cfg, "vanilla", progress=False)
    m2 = pipeline.get_dataset_mask(cfg, "vanilla", progress=False)
    assert np.array_equal(m1.mask, m2.mask) and m1.mask.shape == (32, 32)
    assert len(calls) == 1


def test_validation_halves_are_disjoint_balanced_and_fixed():
    cfg = get_profile("smoke", n_train=200, n_val=100)
    fit, score = pipeline.val_halves(cfg)
    y = pipeline.get_dataset(cfg).y_val.numpy()
    assert not set(fit) & set(score) and len(fit) + len(score) == len(y)
    assert np.abs(np.bincount(y[fit]) - np.bincount(y[score])).max() <= 1
    again = pipeline.val_halves(cfg)
    assert np.array_equal(fit, again[0]) and np.array_equal(score, again[1])


def test_dataset_masks_never_see_the_scoring_half(monkeypatch):
    cfg = get_profile("smoke", n_train=200, n_val=100, epochs=1, dmask_max_steps=10)
    seen = []
    real = pipeline.dataset_mask_learner.DatasetMask.__call__

    def spy(self, model, x, y, progress=True):
        seen.append(x.clone())
        return real(self, model, x, y, progress=progress)

    monkeypatch.setattr(pipeline.dataset_mask_learner.DatasetMask, "__call__", spy)
    pipeline.get_dataset_mask(cfg, "vanilla", progress=False)
    pipeline.get_dataset_mask(cfg, "vanilla", class_index=1, progress=False)
    x_score, _ = pipeline.score_half(cfg)
    for x in seen:  # no image of the scoring half was given to a learner
        same = (x[:, None] == x_score[None]).flatten(2).all(-1)
        assert not same.any()


def test_garbage_results_are_ignored(monkeypatch):
    cfg = get_profile("smoke")
    folder = store.runs_dir("smoke") / "results"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text("{not json")
    (folder / "list.json").write_text("[1, 2]")
    (folder / "table9.json").write_text(json.dumps({"values": {"a": 1}, "made_by": {"profile": "other"}}))
    pipeline.save_result(cfg, "table1", {"vanilla": 1})
    assert pipeline.load_results(cfg) == {"table1": {"vanilla": 1}}
    # same folder, another data set or other code: not this run's result
    assert pipeline.load_results(cfg.replace(data_seed=1)) == {}
    monkeypatch.setattr(store, "package_code_hash", lambda: "edited")
    assert pipeline.load_results(cfg) == {}


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


@pytest.mark.slow  # three mask processes, one killed
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
    for key in ("masks", "predictions", "final_predictions", "steps", "extra_indices"):
        assert np.array_equal(a[key], b[key]), key
    assert not partial.exists()


# ------------------------------------------------- the paper's claims on the smoke profile
@pytest.mark.slow
def test_smoke_dataset_mask_keeps_accuracy_on_held_out_images(smoke):
    mask = pipeline.get_dataset_mask(smoke, "vanilla", progress=False)
    assert mask.converged[0] and mask.steps[0] < smoke.dmask_max_steps  # it settled inside the budget
    # on its own (fit) images it costs a few points at most (the small profiles do not
    # revert to a denser mask as the paper's 99% rule would)
    assert mask.accuracy_after >= mask.accuracy_before - 0.05
    # and it removed frequencies: it starts at ones
    assert mask.mask.mean() < 0.5
    table = networks.table1(smoke, progress=False)
    # on the held-out half, the mask costs at most a few points (chance is 20%)
    assert table["vanilla"]["masked"] >= table["vanilla"]["standard"] - 10
    assert table["vanilla"]["standard"] > 40


@pytest.mark.slow
def test_smoke_dataset_mask_recovers_planted_frequencies(smoke):
    ds = pipeline.get_dataset(smoke)
    mask = pipeline.get_dataset_mask(smoke, "vanilla", progress=False).mask
    scores = ground_truth.ground_truth(smoke, progress=False)
    vanilla = scores["dataset mask, vanilla"]
    assert vanilla["auroc"] >= 0.7, vanilla  # well above chance (0.5)
    direct = ground_truth_scores(symmetric_part(mask), ds.ground_truth.any(axis=0))
    assert direct == vanilla


@pytest.mark.slow
def test_smoke_reversal_beats_a_random_mask_of_the_same_size(smoke):
    t2 = adversarial_reversal.table2(smoke, progress=False)
    assert t2["x"] == 100.0 and t2["n"] > 0
    # the image's own mask restores more of the clean prediction on x_A than a random
    # mask keeping as many frequencies; its complement loses more of it than the mask does
    assert t2["M(x_A)"] > t2["random mask, same size (x_A)"] + 10
    assert t2["Mc(x)"] < t2["M(x)"]


@pytest.mark.slow
def test_smoke_vanilla_network_reads_the_high_frequency_cue(smoke):
    table = ground_truth.cue_reliance(smoke, progress=False)
    assert list(table) == list(REGIMES)
    vanilla = table["vanilla"]
    assert list(vanilla) == ["all frequencies", "L bins + DC only", "H bins + DC only", "L bins removed",
                             "H bins removed"]
    # H is the vanilla network's shortcut: without the H bins it falls, with them alone it holds
    assert vanilla["H bins removed"] < vanilla["all frequencies"] - 20
    assert vanilla["H bins + DC only"] > vanilla["L bins + DC only"]
    assert "cue_reliance" in pipeline.load_results(smoke)


@pytest.mark.slow
def test_reproduction_reuses_the_pages_results(smoke, monkeypatch):
    rows = reproduction.reproduction(smoke, progress=False)  # every table stored for this configuration
    assert len(rows) == 10 + 5 + 4 + 1 and all(r[3] is not None for r in rows)

    def refit(*args, **kwargs):
        raise AssertionError("recomputed a table the store already held")

    for name in ("table1", "table2", "table3"):
        monkeypatch.setattr(reproduction, name, refit)
    assert reproduction.reproduction(smoke, progress=False) == rows


def test_artefact_code_follows_the_import_graph(monkeypatch):
    """A network's key covers every module that training imports, directly or not
    (distributed and utils were missing from the hand-kept list), so editing one of them
    changes the key."""
    from fm_core.nets import distributed, training
    from fm_core import utils
    closure = store.code_closure(pipeline.NETWORK_CODE)
    assert {training, distributed, utils} <= set(closure)
    assert all(m.__name__.startswith("fm_core") for m in closure)
    from fm_core.store import code_keys
    before = store.code_hash(pipeline.NETWORK_CODE)
    real = code_keys._source_digest

    def edited(path):  # as if distributed.py had been edited
        return "edited" if path.endswith("distributed.py") else real(path)

    monkeypatch.setattr(code_keys, "_source_digest", edited)
    assert store.code_hash(pipeline.NETWORK_CODE) != before
    assert store.code_hash([store]) == store.code_hash([store])  # stable within a process


@pytest.mark.parametrize("recipe", ["NETWORK_CODE", "SPLIT_CODE", "DATASET_MASK_CODE", "IMAGE_MASK_CODE"])
def test_editing_any_module_a_recipe_reaches_changes_its_key(recipe, monkeypatch):
    """Across the sub-packages (``from ..fourier import``, ``from . import validate``,
    ``from fm_core.nets import models``): every module in a recipe's closure counts, and
    editing any one of them changes the recipe's key."""
    from fm_core.store import code_keys
    code = getattr(pipeline, recipe)
    closure = store.code_closure(code)
    names = {m.__name__ for m in closure}
    assert {"fm_core.data.validate", "fm_core.nets.models", "fm_core.fourier", "fm_core.utils"} <= names
    before = store.code_hash(code)
    real = code_keys._source_digest
    for module in closure:
        edited_file = module.__file__
        monkeypatch.setattr(code_keys, "_source_digest",
                            lambda path, f=edited_file: "edited" if path == f else real(path))
        assert store.code_hash(code) != before, f"editing {module.__name__} left {recipe}'s key unchanged"
    monkeypatch.setattr(code_keys, "_source_digest", real)


def test_relative_imports_across_sub_packages_are_followed():
    import fm_core.methods
    from fm_core.data import dataset
    assert "fm_core.fourier" in {m.__name__ for m in store.code_closure([fm_core.methods])}  # from ..fourier
    assert "fm_core.data.validate" in {m.__name__ for m in store.code_closure([dataset])}  # from . import


def test_package_hash_covers_every_sub_package(monkeypatch):
    from pathlib import Path

    from fm_core.store import code_keys
    before = store.package_code_hash()
    real = code_keys._source_digest
    for sub in ("masks/objective.py", "book/figures/paper.py", "data/cue_calibration.json"):
        path = str(Path(code_keys.__file__).resolve().parents[1] / sub)
        monkeypatch.setattr(code_keys, "_source_digest", lambda p, f=path: "edited" if p == f else real(p))
        assert store.package_code_hash() != before, sub

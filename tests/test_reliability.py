"""Reliability (issue #12): training resumes after kill -9 to the same weights, the same
command twice gives the same bytes, stored artefacts are verified against their records
(damage is reported, deleted and recomputed), one process computes an artefact while
another waits, and a lock left by a killed process blocks nothing."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fm_core.store import pipeline
from fm_core import store
from fm_core.nets import training
from fm_core.cli import main
from fm_core.data import load_dataset
from fm_core.errors import UserError
from fm_core.profiles import get_profile
from fm_core.utils import save_npz_atomic

ENV = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")


def _tiny(**overrides):
    return get_profile("smoke", **dict(dict(n_train=240, n_val=120, epochs=1, width=0.125,
                                            dmask_max_steps=20, pgd_steps=2), **overrides))


def _small_npz(path: Path, n_train=240, n_val=60, size=32, seed=0) -> Path:
    """Two classes told apart by brightness: learnable in an epoch."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % 2
        x = rng.integers(0, 160, (n, size, size)) + 90 * y[:, None, None]
        return x.astype(np.uint8), y.astype(np.int64)

    (xt, yt), (xv, yv) = split(n_train), split(n_val)
    np.savez(path, x_train=xt, y_train=yt, x_val=xv, y_val=yv)
    return path


def _cli(*args, env=None):
    return [sys.executable, "-m", "fm_core", *map(str, args)]


def _train_cmd(data, out, epochs=3):
    return _cli("train", "--data", data, "--profile", "smoke", "--epochs", epochs, "--width", "0.125",
                "--batch-size", "32", "--out", out)


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------- resume and determinism
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three runs of the same `fm train`: two uninterrupted (separate processes) and one
    killed with SIGKILL after its first checkpoint, then rerun."""
    root = tmp_path_factory.mktemp("train")
    env = dict(ENV, FM_RUNS_DIR=str(root / "runs"), FM_DATA_DIR=str(root / "data"))
    data = _small_npz(root / "d.npz")
    out = {}
    start = time.perf_counter()
    for name in ("a", "b"):
        out[name] = root / f"{name}.pt"
        subprocess.run(_train_cmd(data, out[name]), check=True, env=env, capture_output=True, timeout=300)
    out["seconds_per_run"] = (time.perf_counter() - start) / 2

    killed = root / "killed.pt"
    partial = killed.with_suffix(".partial.pt")
    proc = subprocess.Popen(_train_cmd(data, killed), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not partial.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not killed.exists(), "the run ended before it could be killed"
    out["epochs_done_at_kill"] = int(torch.load(partial, weights_only=True)["epochs_done"])
    rerun = subprocess.run(_train_cmd(data, killed), check=True, env=env, capture_output=True,
                           text=True, timeout=300)
    out.update(killed=killed, partial=partial, rerun_stdout=rerun.stdout, data=data, env=env)
    return out


@pytest.mark.slow  # four training processes (trained)
def test_training_killed_with_sigkill_resumes_to_the_same_weights(trained):
    assert trained["epochs_done_at_kill"] < 3, "the checkpoint was already complete"
    assert "resuming from" in trained["rerun_stdout"]
    assert _same_state(_state(trained["a"]), _state(trained["killed"]))
    assert not trained["partial"].exists(), "the checkpoint outlived the saved model"
    meta = lambda p: json.loads(torch.load(p, weights_only=True)["meta_json"])["metrics"]["history"]
    assert meta(trained["a"]) == meta(trained["killed"])


@pytest.mark.slow  # four training processes (trained)
def test_the_same_train_command_twice_gives_the_same_weights(trained):
    assert _same_state(_state(trained["a"]), _state(trained["b"]))


@pytest.mark.slow  # four training processes (trained)
def test_the_same_image_masks_command_twice_gives_the_same_arrays(trained, tmp_path):
    outs = [tmp_path / "m1.npz", tmp_path / "m2.npz"]
    for out in outs:
        subprocess.run(_cli("image-masks", "--model", trained["a"], "--data", trained["data"], "--profile",
                            "smoke", "--limit", "8", "--batch-size", "8", "--max-steps", "10", "--out", out),
                       check=True, env=trained["env"], capture_output=True, timeout=300)
    a, b = np.load(outs[0]), np.load(outs[1])
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:  # bit for bit (NaN included)
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), key


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    cfg = _tiny(n_train=120, n_val=60)
    ds = load_dataset("synthetic", 32, n_train=120, n_val=60)
    checkpoint = tmp_path / "net.partial.pt"
    training.train_network(ds, "vanilla", cfg, progress=False, device="cpu", checkpoint=checkpoint)
    assert checkpoint.exists()  # the caller deletes it once the model is saved
    with pytest.raises(UserError, match="other settings or data") as info:
        training.train_network(ds, "vanilla", cfg.replace(seed=1), progress=False, device="cpu",
                               checkpoint=checkpoint)
    assert "\n" not in str(info.value)
    other = load_dataset("synthetic", 32, n_train=100, n_val=60)
    with pytest.raises(UserError, match="other settings or data"):
        training.train_network(other, "vanilla", cfg, progress=False, device="cpu", checkpoint=checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(UserError, match="damaged"):
        training.train_network(ds, "vanilla", cfg, progress=False, device="cpu", checkpoint=checkpoint)


def test_checkpoints_load_without_pickled_code(tmp_path):
    """Everything in a checkpoint is a tensor, number, string, list or dict."""
    ds = load_dataset("synthetic", 32, n_train=120, n_val=60)
    checkpoint = tmp_path / "c.pt"
    training.train_network(ds, "adversarial", _tiny(adv_train_steps=1), progress=False, device="cpu",
                           checkpoint=checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    assert state["epochs_done"] == 1 and state["format"] == training.CHECKPOINT_FORMAT


# ---------------------------------------------------------------------- verified artefacts
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _one_warning(caplog, path: Path) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "fm_core.store"]
    assert len(lines) == 1 and str(path) in lines[0] and "\n" not in lines[0], lines
    caplog.clear()
    return lines[0]


def test_a_damaged_network_is_reported_deleted_and_retrained(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="fm_core.store")
    cfg = _tiny()
    calls = _counting(monkeypatch, pipeline, "train_network")
    first = pipeline.get_network(cfg, "vanilla", progress=False)
    (path,) = (store.runs_dir(cfg.name) / "networks").glob("*.pt")
    record = json.loads(store.record_path(path).read_text())
    assert record["size"] == path.stat().st_size and len(record["sha256"]) == 64
    for damage, reason in ((_truncate, "truncated"), (_flip, "altered")):
        damage(path)
        again = pipeline.get_network(cfg, "vanilla", progress=False)
        assert reason in _one_warning(caplog, path)
        assert _same_state(first.state_dict(), again.state_dict())
        assert store.check_artefact(path) is None
    assert len(calls) == 3
    store.record_path(path).unlink()  # a missing record: not trusted either
    pipeline.get_network(cfg, "vanilla", progress=False)
    assert "no record" in _one_warning(caplog, path) and len(calls) == 4


def test_a_damaged_dataset_mask_is_reported_deleted_and_relearned(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="fm_core.store")
    cfg = _tiny()
    first = pipeline.get_dataset_mask(cfg, "vanilla", progress=False)
    calls = _counting(monkeypatch, pipeline.dataset_mask_learner.DatasetMask, "__call__")
    (path,) = (store.runs_dir(cfg.name) / "masks").glob("dataset-*.npz")
    for damage, reason in ((_truncate, "truncated"), (_flip, "altered")):
        damage(path)
        again = pipeline.get_dataset_mask(cfg, "vanilla", progress=False)
        assert reason in _one_warning(caplog, path)
        assert np.array_equal(first.mask, again.mask)
    assert len(calls) == 2
    store.record_path(path).write_text("{not json")
    pipeline.get_dataset_mask(cfg, "vanilla", progress=False)
    assert "unreadable" in _one_warning(caplog, path) and len(calls) == 3


def test_damaged_results_are_reported_and_dropped(caplog):
    caplog.set_level(logging.WARNING, logger="fm_core.store")
    cfg = _tiny()
    for damage, reason in ((_truncate, "unreadable"), (_flip, "")):
        path = pipeline.save_result(cfg, "table1", {"vanilla": {"standard": 91.25}})
        assert pipeline.load_results(cfg) == {"table1": {"vanilla": {"standard": 91.25}}}
        damage(path)
        assert pipeline.load_results(cfg) == {}  # whoever needs it computes it again
        assert reason in _one_warning(caplog, path)
        assert not path.exists()
    path = pipeline.save_result(cfg, "table1", {"vanilla": {"standard": 91.25}})
    stored = json.loads(path.read_text())
    stored["values"]["vanilla"]["standard"] = 99.0  # an edit that stays valid JSON
    path.write_text(json.dumps(stored))
    assert pipeline.load_results(cfg) == {} and "altered" in _one_warning(caplog, path)


def test_a_file_that_fails_to_load_is_recomputed(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="fm_core.store")
    path = tmp_path / "a.npz"
    made = []

    def compute():
        made.append(1)
        return {"v": np.arange(3)}

    def load(p):
        arrays = dict(np.load(p))
        if len(made) < 2:
            raise ValueError("format of an older version\nsecond line")
        return arrays

    save = lambda a, p: save_npz_atomic(p, **a)
    store.fetch(path, compute, save, lambda p: dict(np.load(p)))
    out = store.fetch(path, compute, save, load)
    assert "does not load (format of an older version)" in _one_warning(caplog, path)
    assert np.array_equal(out["v"], np.arange(3)) and len(made) == 2


def test_fm_runs_verify_reports_every_problem(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FM_RUNS_DIR", str(tmp_path / "runs"))
    cfg = _tiny()
    folder = store.runs_dir(cfg.name) / "masks"
    save = lambda a, p: save_npz_atomic(p, **a)
    for name in ("a", "b", "c"):
        store.fetch(folder / f"{name}.npz", lambda: {"v": np.arange(5)}, save, lambda p: dict(np.load(p)),
                    record=lambda v: {"artefact": "test"})
    pipeline.save_result(cfg, "table1", {"x": 1})
    assert main(["runs", "--verify", "--profile", "smoke"]) == 0
    assert "4 artefacts checked" in capsys.readouterr().out
    _truncate(folder / "a.npz")
    _flip(folder / "b.npz")
    store.record_path(folder / "c.npz").unlink()
    _flip(store.runs_dir(cfg.name) / "results" / "table1.json")
    (folder / ".d.npz.x.tmp").write_bytes(b"half")
    assert main(["runs", "--verify"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6, lines
    problems = dict(line.split(": ", 1) for line in lines[:-1])
    assert "truncated" in problems[str(folder / "a.npz")]
    assert "altered" in problems[str(folder / "b.npz")]
    assert "no record" in problems[str(folder / "c.npz")]
    assert "temporary" in problems[str(folder / ".d.npz.x.tmp")]
    assert str(store.runs_dir(cfg.name) / "results" / "table1.json") in problems
    assert lines[-1].startswith("4 artefacts checked") and "5 problem(s)" in lines[-1]


# ----------------------------------------------------------------------------- locking
_RACE = textwrap.dedent("""
    import hashlib, os, sys
    from fm_core.store import pipeline
    from fm_core.profiles import get_profile
    marker = sys.argv[1]
    real = pipeline.train_network
    def counted(*args, **kwargs):
        with open(marker, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        return real(*args, **kwargs)
    pipeline.train_network = counted
    print("ready", flush=True)  # torch imported: start together, when told
    sys.stdin.readline()
    cfg = get_profile("smoke", n_train=240, n_val=120, epochs=1, width=0.125, pgd_steps=2)
    model = pipeline.get_network(cfg, "vanilla", progress=False)
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.state_dict().values()))
    print(digest.hexdigest())
""")


@pytest.mark.slow  # two training processes
def test_two_processes_racing_for_a_network_train_it_once(tmp_path):
    env = dict(ENV, FM_RUNS_DIR=str(tmp_path / "runs"), FM_DATA_DIR=os.environ["FM_DATA_DIR"])
    load_dataset("synthetic", 32)  # generate the shared data once, before the race
    marker = tmp_path / "trained"
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(marker)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:  # "ready": it has imported torch
        p.stdout.readline()
    for p in procs:  # both ready: start them together
        try:
            p.stdin.write("go\n")
            p.stdin.flush()
        except BrokenPipeError:  # it died: its return code and stderr say why, below
            pass
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert len(marker.read_text().splitlines()) == 1, "the network was trained twice"
    assert outs[0][0].strip() == outs[1][0].strip()
    networks = tmp_path / "runs" / "smoke" / "networks"
    assert sorted(p.suffix for p in networks.iterdir()) == [".json", ".pt"]  # no lock, no checkpoint left


_HOLDER = textwrap.dedent("""
    import sys, time
    from filelock import FileLock
    lock = FileLock(sys.argv[1])
    lock.acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


def test_a_lock_left_by_a_killed_process_blocks_nothing(tmp_path):
    from filelock import FileLock, Timeout

    path = tmp_path / "masks" / "a.npz"
    path.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(store.lock_path(path))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Timeout):  # held while its process lives
            FileLock(str(store.lock_path(path))).acquire(timeout=0.2)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert store.lock_path(path).exists()  # left behind by the killed process
    start = time.perf_counter()
    out = store.fetch(path, lambda: {"v": np.ones(2)}, lambda a, p: save_npz_atomic(p, **a),
                      lambda p: dict(np.load(p)))
    assert np.array_equal(out["v"], np.ones(2)) and time.perf_counter() - start < 5
    assert not store.lock_path(path).exists()

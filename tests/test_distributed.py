"""More than one process (fm_core.nets.distributed, fm_core.masks.shards): image masks learned by two ranks under
torchrun (gloo, CPU) equal a one-process run, through the CLI and through the store;
`fm merge`; data-parallel training. Tiny networks and a handful of images keep it fast."""
from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fm_core.nets import distributed
from fm_core.cli import main
from fm_core.errors import UserError
from fm_core.masks import shards
from fm_core.masks.result import MaskResult
from fm_core.nets.models import build_model, save_model

ROOT = Path(__file__).resolve().parent.parent
SIZE, CLASSES = 32, 3
RUN_VARS = (*distributed.TORCHRUN_VARS, *distributed.SLURM_VARS, "SLURM_STEP_ID", "MASTER_ADDR", "MASTER_PORT")


def _env(**changes) -> dict:
    """This process's environment without any launcher's variables, plus ``changes``;
    one thread per process (two ranks share the machine's cores)."""
    env = {k: v for k, v in os.environ.items() if k not in RUN_VARS}
    env.update(OMP_NUM_THREADS="1", TQDM_DISABLE="1", PYTHONPATH=str(ROOT), **changes)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], processes: int = 1, timeout: int = 120, **env) -> subprocess.CompletedProcess:
    """``python -m <args>``, alone or under ``torchrun --nproc_per_node=processes``."""
    launcher = [sys.executable]
    if processes > 1:  # a free port, so that parallel test runs never collide
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                     "--master_port", str(_free_port())]
    proc = subprocess.run(launcher + args, cwd=ROOT, env=_env(**env), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A data file (3 classes of noisy gratings, 32x32) and an untrained, narrow VGG."""
    folder = tmp_path_factory.mktemp("tiny")
    g = np.random.default_rng(0)
    i, j = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")

    def images(n):
        y = np.arange(n) % CLASSES
        x = 0.5 + 0.3 * np.cos(2 * np.pi * (y[:, None, None] + 1) * (i + j) / SIZE) \
            + 0.1 * g.standard_normal((n, SIZE, SIZE))
        return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)

    (x_train, y_train), (x_val, y_val) = images(48), images(12)
    data = folder / "tiny.npz"
    np.savez(data, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    torch.manual_seed(0)
    model = build_model("vgg11_bn", CLASSES, SIZE, 0.5, 0.25, width=0.0625, pooled_head=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.from_numpy(x_train)[:, None], torch.from_numpy(y_train)
    for _ in range(15):  # a little training: an untrained network's masks all shrink to zero
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    save_model(model.eval(), folder / "model.pt")
    return data, folder / "model.pt"


# --------------------------------------------------------------------------- ranks
def test_ranks_come_from_torchrun_or_srun_and_default_to_one_process():
    assert distributed.ranks_from_env({}) == distributed.ONE_PROCESS
    assert distributed.ranks_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == distributed.Ranks(3, 4, 1)
    slurm = {"SLURM_PROCID": "2", "SLURM_NTASKS": "8", "SLURM_LOCALID": "0"}
    assert distributed.ranks_from_env(slurm) == distributed.ONE_PROCESS  # a batch script's shell, not srun
    assert distributed.ranks_from_env(dict(slurm, SLURM_STEP_ID="0")) == distributed.Ranks(2, 8, 0)
    for bad in ({"RANK": "4", "WORLD_SIZE": "4"}, {"RANK": "x", "WORLD_SIZE": "2"}):
        with pytest.raises(UserError):
            distributed.ranks_from_env(bad)


def test_shards_are_strided_and_cover_every_image():
    positions = [shards.shard_positions(7, distributed.Ranks(r, 3, 0)) for r in range(3)]
    assert [s.tolist() for s in positions] == [[0, 3, 6], [1, 4], [2, 5]]
    with pytest.raises(UserError, match="processes"):
        shards.shard_positions(2, distributed.Ranks(0, 3, 0))


# --------------------------------------------------------------------- image masks
IMAGE_ARGS = ["--split", "val", "--limit", "7", "--batch-size", "3", "--max-steps", "25",
              "--patience", "4", "--lam", "0.02", "--profile", "smoke", "--dtype", "float64"]


@pytest.fixture(scope="module")
def one_and_two(tiny, tmp_path_factory):
    """`fm image-masks` in float64, in this process and under torchrun with two ranks."""
    data, model = tiny
    folder = tmp_path_factory.mktemp("image-masks")
    args = ["image-masks", "--model", str(model), "--data", str(data), *IMAGE_ARGS]
    assert main(args + ["--out", str(folder / "one.npz")]) == 0
    two = _run(["-m", "fm_core", *args, "--out", str(folder / "two.npz")], processes=2)
    return folder, MaskResult.load(folder / "one.npz"), MaskResult.load(folder / "two.npz"), two


@pytest.mark.slow  # torchrun (one_and_two)
def test_two_ranks_learn_the_masks_of_one_process(one_and_two):
    folder, one, two, proc = one_and_two
    diff = float(np.abs(one.masks - two.masks).max())
    print(f"max |diff| of the masks, 2 ranks vs 1 process (float64): {diff:.3g}")
    assert diff <= 1e-6
    assert one.masks.shape == (7, SIZE, SIZE) and one.masks.max() > 0.5
    # not a trivial case: images stopped at different steps, and their masks differ
    assert len(set(one.steps.tolist())) > 1 and len({m.tobytes() for m in one.masks}) > 1
    for name in ("steps", "kept", "predictions", "final_predictions"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.extra.keys() == two.extra.keys() == {"indices", "labels"}
    assert np.array_equal(one.extra["indices"], two.extra["indices"])
    assert one.settings == two.settings
    assert "2 processes" in proc.stdout and proc.stdout.count("single-image masks") == 1  # rank 0 speaks
    assert sorted(p.name for p in folder.iterdir()) == ["one.npz", "two.npz"]  # shards and checkpoints gone


@pytest.mark.slow  # torchrun (one_and_two)
def test_fm_merge_rebuilds_the_run_from_its_shards(one_and_two, tmp_path, capsys):
    _, one, _, _ = one_and_two
    world = 3
    for rank in range(world):
        keep = shards.shard_positions(len(one.masks), distributed.Ranks(rank, world, 0))
        shard = MaskResult(**{f: getattr(one, f)[keep] for f in shards.PER_IMAGE_FIELDS},
                           settings=one.settings,
                           extra=dict({k: v[keep] for k, v in one.extra.items()}, shard_positions=keep,
                                      shard_of=np.array([rank, world, len(one.masks)])))
        shard.save(shards.shard_path(tmp_path / "masks.npz", rank, world))
    assert main(["merge", "--out", str(tmp_path / "masks.npz")]) == 0
    merged = MaskResult.load(tmp_path / "masks.npz")
    assert np.array_equal(merged.masks, one.masks) and np.array_equal(merged.steps, one.steps)
    assert merged.extra.keys() == {"indices", "labels"}

    # a missing shard, a file that is no shard, no shards at all: one line each, exit code 2
    capsys.readouterr()
    two_of_three = [str(shards.shard_path(tmp_path / "masks.npz", r, world)) for r in (0, 2)]
    assert main(["merge", *two_of_three, "--out", str(tmp_path / "bad.npz")]) == 2
    assert main(["merge", str(tmp_path / "masks.npz"), "--out", str(tmp_path / "bad.npz")]) == 2
    assert main(["merge", "--out", str(tmp_path / "none.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err), err
    assert not (tmp_path / "bad.npz").exists()


# ------------------------------------------- the store's masks and training, under torchrun
STORE_CFG = dict(imask_max_steps=25, imask_patience=4, imask_batch_size=3, imask_images=7, imask_lam=0.02)
TRAIN_CFG = dict(width=0.0625, epochs=2, batch_size=16, pgd_steps=2)


def stub_store(replace, data, model):
    """The store's single-image recipe with its inputs stubbed (``replace(name, value)``
    sets a function of fm_core.store.pipeline): a tiny float64 network and the first 7
    validation images as the selection."""
    from fm_core.nets import models
    from fm_core.data.dataset import Dataset

    arrays = np.load(data)
    x, y = torch.from_numpy(arrays["x_val"])[:, None], torch.from_numpy(arrays["y_val"])
    ds = Dataset("tiny", x, y, x, y, ["a", "b", "c"])
    replace("get_dataset", lambda cfg: ds)
    replace("get_reversal_selection", lambda cfg, progress=True: {"indices": np.arange(7), "x_adv": x[:7]})
    replace("get_network", lambda cfg, regime, progress=True: models.freeze(models.load_model(model).double()))


RANKS_SCRIPT = f"""
import json, sys
import numpy as np, torch
from fm_core import cli
from fm_core.nets import training
from fm_core.store import pipeline
from fm_core.data import load_dataset
from fm_core.profiles import get_profile
from fm_core.nets.models import weights_digest

{inspect.getsource(stub_store)}
data, model, out = sys.argv[1:4]
stub_store(lambda name, value: setattr(pipeline, name, value), data, model)
result = pipeline.get_image_masks(get_profile("smoke", **{STORE_CFG!r}), "vanilla_x", progress=False)
rank = torch.distributed.get_rank()
np.savez(f"{{out}}/store-{{rank}}.npz", masks=result.masks, steps=result.steps)

# data-parallel training: every rank must end with the same network
cfg = get_profile("smoke", data=data, **{TRAIN_CFG!r})
net = training.train_network(load_dataset(data), "vanilla", cfg, progress=False, distributed=True)
state = {{k: v.cpu() for k, v in net.core.state_dict().items()}}
json.dump({{"digest": weights_digest(state, ""), "metrics": net.meta["metrics"]}},
          open(f"{{out}}/train-{{rank}}.json", "w"))
cli.main(["train", "--data", data, "--profile", "smoke", "--width", "0.0625", "--epochs", "2",
          "--batch-size", "16", "--out", f"{{out}}/fm-train.pt"])
"""


@pytest.fixture(scope="module")
def under_torchrun(tiny, tmp_path_factory):
    data, model = tiny
    folder = tmp_path_factory.mktemp("ranks")
    script = folder / "ranks.py"
    script.write_text(RANKS_SCRIPT)
    proc = _run([str(script), str(data), str(model), str(folder)], processes=2, timeout=240,
                FM_RUNS_DIR=str(folder / "runs"))
    return folder, proc


@pytest.mark.slow  # torchrun (under_torchrun)
def test_the_store_shards_single_image_masks_by_rank(tiny, under_torchrun, monkeypatch):
    from fm_core.store import pipeline
    from fm_core.profiles import get_profile

    folder, _ = under_torchrun
    stub_store(lambda name, value: monkeypatch.setattr(pipeline, name, value), *tiny)
    one = pipeline.get_image_masks(get_profile("smoke", **STORE_CFG), "vanilla_x", progress=False)
    two0, two1 = (np.load(folder / f"store-{r}.npz") for r in (0, 1))
    diff = float(np.abs(one.masks - two0["masks"]).max())
    print(f"max |diff| of the store's masks, 2 ranks vs 1 process (float64): {diff:.3g}")
    assert diff <= 1e-6 and np.array_equal(one.steps, two0["steps"]) and len(set(one.steps.tolist())) > 1
    assert np.array_equal(two0["masks"], two1["masks"])  # every rank gets the merged artefact
    stored = sorted(p.name for p in (folder / "runs" / "smoke" / "masks").iterdir())
    assert len(stored) == 2 and all(".rank" not in n and ".partial" not in n for n in stored), stored


@pytest.mark.slow  # torchrun (under_torchrun)
def test_data_parallel_training_keeps_the_ranks_equal_and_rank_0_writes(tiny, under_torchrun):
    from fm_core.nets import training
    from fm_core.data import load_dataset
    from fm_core.nets.models import load_model
    from fm_core.profiles import get_profile

    folder, proc = under_torchrun
    ranks = [json.loads((folder / f"train-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["digest"] == ranks[1]["digest"]  # DDP kept the two copies equal
    assert ranks[0]["metrics"] == {**ranks[1]["metrics"], "train_seconds": ranks[0]["metrics"]["train_seconds"]}
    data, _ = tiny
    cfg = get_profile("smoke", data=str(data), **TRAIN_CFG)
    alone = training.train_network(load_dataset(str(data)), "vanilla", cfg, progress=False)
    # each rank saw half of every batch: the epoch's totals cover the training set once
    history, history_alone = ranks[0]["metrics"]["history"], alone.meta["metrics"]["history"]
    print("train loss, 2 ranks vs 1 process:", history["train_loss"], history_alone["train_loss"])
    assert len(history["train_loss"]) == len(history_alone["train_loss"]) == 2
    assert np.allclose(history["lr"], history_alone["lr"])  # the same number of steps per epoch
    assert abs(history["train_loss"][0] - history_alone["train_loss"][0]) < 0.1
    # `fm train` under torchrun: one model file, written by rank 0, no checkpoint left
    assert load_model(folder / "fm-train.pt").meta["metrics"]["val_acc"] >= 0
    assert proc.stdout.count("vanilla: val acc") == 1 and "2 processes" in proc.stdout
    assert not (folder / "fm-train.partial.pt").exists()

"""Every --seed of the command line really seeds: the same seed gives the same result,
another seed another one."""
from __future__ import annotations

import numpy as np

from fm_core import cli
from fm_core.masks.result import MaskResult
from fm_core.nets.models import build_model, save_model


def _tiny_model_and_data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 32, 32), dtype=np.uint8)
    y = np.arange(60) % 2
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x, y_train=y, x_val=x, y_val=y)
    model = build_model("vgg11_bn", 2, 32, 0.5, 0.3, width=0.125, pooled_head=True, data=str(data))
    path = tmp_path / "m.pt"
    save_model(model, path)
    return path, data


def test_fm_mask_seed_orders_the_images(tmp_path):
    model, data = _tiny_model_and_data(tmp_path)

    def mask(seed, name):
        out = tmp_path / name
        args = ["mask", "--model", str(model), "--data", str(data), "--max-steps", "10", "--batch-size", "16",
                "--lr", "0.05", "--profile", "smoke", "--out", str(out)]
        assert cli.main(args + ["--seed", str(seed)]) == 0
        return MaskResult.load(out).mask

    a, b, c = mask(1, "a.npz"), mask(1, "b.npz"), mask(2, "c.npz")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fm_data_seed_draws_another_data_set(capsys):
    assert cli.main(["data", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["data", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first
    assert cli.main(["data", "--seed", "2"]) == 0
    assert capsys.readouterr().out != first  # another draw: another pixel mean and std

"""Behaviour and mask measures of the cue world, on cases with a known answer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fm_core.science import cue_analysis
from fm_core.nets.models import MaskedClassifier


class ReadsCorner(nn.Module):
    """Predicts class round(10 * pixel[0, 0]) (of 5): a network that reads one thing."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, z):
        value = 10 * z[:, 0, 0, 0:1]
        return -(value - torch.arange(5.0)) ** 2 + 0 * self.dummy


def corner_model():
    return MaskedClassifier(ReadsCorner(), 0.0, 1.0, {"size": 4})


def images(classes):
    x = torch.zeros(len(classes), 1, 4, 4)
    x[:, 0, 0, 0] = torch.tensor(classes, dtype=torch.float32) / 10
    return x


def test_behaviour_reports_accuracies_and_the_l_bias():
    y_low, y_high = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4])
    probes = {"l_only": {"x": images(y_low), "y_low": y_low, "y_high": y_low},
              "h_only": {"x": images([1, 2, 0, 0]), "y_low": y_high, "y_high": y_high},
              "conflict": {"x": images([0, 2, 3, 0]), "y_low": y_low, "y_high": y_high}}
    out = cue_analysis.behaviour(corner_model(), probes)
    assert out["l_only, %"] == 100.0 and out["h_only, %"] == 50.0
    # conflict: image 0 -> L class, 1 -> H class, 2 -> H class, 3 -> neither
    assert out["conflict: predicts L class, %"] == 25.0 and out["conflict: predicts H class, %"] == 50.0
    assert out["L-bias"] == pytest.approx(1 / 3, abs=1e-4)


def test_mask_cue_shares_of_masks_that_keep_one_cue():
    size = 8
    low = np.zeros((2, size, size), bool)
    high = np.zeros((2, size, size), bool)
    low[0, 1, 0] = low[0, -1, 0] = low[1, 0, 1] = low[1, 0, -1] = True
    high[0, 3, 3] = high[0, -3, -3] = high[1, 3, -3] = high[1, -3, 3] = True
    keeps_low = low.any(0).astype(float)
    shares = cue_analysis.mask_cue_shares(keeps_low, low, high)
    assert shares["L-share"] == 1.0 and shares["AUROC L"] == 1.0 and shares["mean on H bins"] == 0.0
    keeps_high = high.any(0).astype(float)
    assert cue_analysis.mask_cue_shares(keeps_high, low, high)["L-share"] == 0.0
    # a mask kept on k only (not -k) acts as its symmetric part: half of it
    half = np.zeros((size, size))
    half[1, 0] = 1.0
    assert cue_analysis.mask_cue_shares(half, low, high)["mean on L bins"] == pytest.approx(0.25)


def test_band_comparison_counts_ties():
    bands = np.zeros((2, 4, 4), bool)
    bands[0, :2] = True
    bands[1, 2:] = True
    a = np.ones((3, 4, 4))
    b = np.ones((3, 4, 4))
    b[0, :2] = 0.5  # image 0: a keeps more in band 0
    b[1, 2:] = 2.0  # image 1: a keeps less in band 1
    out = cue_analysis.band_comparison(a, b, bands)
    np.testing.assert_allclose(out["more"], [100 / 3, 0])
    np.testing.assert_allclose(out["less"], [0, 100 / 3])
    np.testing.assert_allclose(out["equal"], [200 / 3, 200 / 3])
    np.testing.assert_allclose(out["more"] + out["equal"] + out["less"], 100)


def test_rank_correlation():
    assert cue_analysis.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert cue_analysis.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(cue_analysis.rank_correlation([1, 1, 1], [1, 2, 3]))


def test_fm_cues_writes_the_behaviour_and_refuses_bad_input(tmp_path, capsys):
    import json

    from fm_core import cli
    from fm_core.nets.models import build_model, save_model
    from fm_core.profiles import get_profile

    cfg = get_profile("smoke")
    model = build_model("vgg11_bn", 5, 32, 0.5, 0.08, width=0.125, pooled_head=True, data="synthetic",
                        regime="vanilla")
    model.meta["config"] = cfg.as_dict()
    path = tmp_path / "m.pt"
    save_model(model, path)
    out = tmp_path / "cues.json"
    assert cli.main(["cues", "--model", str(path), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {"l_only, %", "h_only, %", "h_removed, %", "l_removed, %", "L-bias"} <= set(result)
    assert result["probe_seed"] != cfg.data_seed and result["world"]["h_ratio"] == cfg.cue_h_ratio
    assert 0.0 <= result["L-bias"] <= 1.0
    capsys.readouterr()
    assert cli.main(["cues", "--model", str(path), "--data", "imagenette", "--out", str(out)]) == 2
    assert cli.main(["cues", "--model", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
    assert cli.main(["cues", "--model", str(path), "--out", str(tmp_path / "cues.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error:") for line in err)

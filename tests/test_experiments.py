"""The pure experiment functions on tiny networks and hand-made masks: milliseconds each,
and answers known in advance."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fm_core.science import experiments
from fm_core.book import reversal_notes
from fm_core.masks.result import MaskResult
from fm_core.nets.models import MaskedClassifier


class ReadsDC(nn.Module):
    """Class 0 when the image's mean exceeds 0.5, else class 1 (all it sees is the DC)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[10.0], [-10.0]]))
            self.linear.bias.copy_(torch.tensor([-5.0, 5.0]))

    def forward(self, z):
        return self.linear(z.mean(dim=(1, 2, 3))[:, None])


def dc_net(train_seconds=1.0):
    return MaskedClassifier(ReadsDC(), 0.0, 1.0, {"size": 4, "metrics": {"train_seconds": train_seconds}})


def constant_images(levels):
    return torch.tensor(levels, dtype=torch.float32)[:, None, None, None].expand(-1, 1, 4, 4).clone()


def mask_result(mask):
    return MaskResult(masks=np.asarray(mask, np.float32)[None], steps=np.array([1]), kept=np.array([True]))


def test_table1_scores_masks_on_the_images_given():
    x = constant_images([0.7, 0.9, 0.3, 0.1])
    y = torch.tensor([0, 0, 1, 1])
    keep_dc, remove_dc = np.zeros((4, 4)), np.ones((4, 4))
    keep_dc[0, 0], remove_dc[0, 0] = 1, 0
    nets = {"vanilla": dc_net(), "adversarial": dc_net()}
    masks = {"vanilla": mask_result(keep_dc), "adversarial": mask_result(remove_dc)}
    table = experiments.table1(nets, masks, x, y, eps=0.35, pgd_steps=10)
    assert table["vanilla"]["standard"] == 100.0 and table["vanilla"]["masked"] == 100.0
    # without the DC every image has mean 0: class 1, right for half of them
    assert table["adversarial"]["masked"] == 50.0
    # PGD with eps 0.35 flips the images 0.2 from the threshold 0.5, never those 0.4 away
    assert table["vanilla"]["pgd"] == 50.0
    assert experiments.table1(nets, masks, x, y, eps=0.05, pgd_steps=10)["vanilla"]["pgd"] == 100.0
    assert table["vanilla"]["mask_mean"] == pytest.approx(1 / 16, abs=1e-4)


def test_band_differences_see_a_mask_that_keeps_low_frequencies():
    size = 16
    f = np.fft.fftfreq(size) * size
    r = np.hypot(f[:, None], f[None, :])
    low, high = (r <= 4).astype(float), (r > 4).astype(float)
    for metric in ("mean", "energy"):
        out = experiments.band_energy_differences({"vanilla": high, "robust": low}, n_bands=8, metric=metric)
        assert out["low_minus_high_radial"]["robust"] > 0, metric
    # the fraction kept does not reward sparsity: half a band kept scores half
    half = low.copy()
    half[::2] = 0
    out = experiments.band_energy_differences({"vanilla": low, "half": half * low}, n_bands=8)
    assert out["radial"][0][1:3].max() < 0  # the half mask keeps less of the low bands


def test_band_preference_reports_ties():
    size = 8
    a = np.ones((5, size, size))
    b = np.ones((5, size, size))
    b[:2] = 0.5  # two of five images: the reference keeps less everywhere
    out = experiments.band_preference(b, {"a > b": a}, n_bands=4)
    cmp = out["comparisons"]["a > b"]["radial"]
    np.testing.assert_allclose(cmp["more"], 40.0)
    np.testing.assert_allclose(cmp["equal"], 60.0)
    np.testing.assert_allclose(cmp["less"], 0.0)


def test_cue_reliance_on_a_network_that_reads_the_dc():
    x = constant_images([0.8, 0.9, 0.2, 0.1])
    y = torch.tensor([0, 0, 1, 1])
    low = np.zeros((2, 4, 4), bool)
    high = np.zeros((2, 4, 4), bool)
    low[0, 1, 0] = low[0, 3, 0] = True
    high[0, 2, 2] = True
    table = experiments.cue_reliance({"vanilla": dc_net()}, x, y, {"low": low, "high": high})["vanilla"]
    # the DC is kept by every probe but the removals (which keep it too): all 100%
    assert table == {"all frequencies": 100.0, "L bins + DC only": 100.0, "H bins + DC only": 100.0,
                     "L bins removed": 100.0, "H bins removed": 100.0}


def test_image_mask_statistics():
    r = MaskResult(masks=np.array([[[0.0, 1.0]], [[0.0, 0.0]]], np.float32), steps=np.array([10, 30]),
                   kept=np.array([True, False]))
    stats = experiments.image_mask_statistics({"set": r})["set"]
    assert stats == {"images": 2, "mean mask value": 0.25, "removed (M < 1e-8), %": 75.0,
                     "median steps": 20, "max steps": 30, "prediction kept, %": 50.0}


def test_attack_energy_kept_is_the_share_of_the_attack_a_mask_passes():
    import numpy as np
    import torch
    from fm_core.science import experiments
    from fm_core.book import reversal_notes
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 8, 8, generator=g)
    x_adv = x + 0.01 * torch.randn(3, 1, 8, 8, generator=g)
    ones, zeros = np.ones((3, 8, 8)), np.zeros((3, 8, 8))
    assert np.allclose(experiments.attack_energy_kept(x, x_adv, ones), 1.0)
    assert np.allclose(experiments.attack_energy_kept(x, x_adv, zeros), 0.0)
    half = np.zeros((3, 8, 8))
    half[:, :, :4] = 1.0
    share = experiments.attack_energy_kept(x, x_adv, half)
    assert np.all((share > 0) & (share < 1))
    table2 = {"M(x_A)": 99.0, "random mask, same size (x_A)": 20.0}
    note = reversal_notes.construction_note({"n": 3, "mean": 0.01, "median": 0.01, "min": 0.0, "max": 0.02}, table2)
    assert "1.0% of the attack's energy" in note and "by construction" in note
    assert "random mask keeping as many frequencies restores 20.0%" in note
    assert "not a consequence of sparsity" in reversal_notes.construction_note(
        {"n": 3, "mean": 0.5, "median": 0.5, "min": 0.4, "max": 0.6}, {"M(x_A)": 60.0})


def test_the_construction_verdict_is_whether_the_attack_passes_the_masks():
    from fm_core.pages.adversarial_reversal import ATTACK_PASSES, judge_construction
    assert not judge_construction({"mean": ATTACK_PASSES - 1e-6}).attack_passes_masks
    assert judge_construction({"mean": ATTACK_PASSES}).attack_passes_masks


def test_the_weakest_sufficient_attack_is_the_smallest_factor_that_is_enough():
    from fm_core.science.reversal import weakest_sufficient_attack
    assert weakest_sufficient_attack({1.0: 0.02, 1.5: 0.4, 2.0: 0.6, 3.0: 0.95}, 0.5) == 2.0
    assert weakest_sufficient_attack({1.0: 0.02, 2.0: 0.3}, 0.5) is None


def test_attack_success_grows_with_eps():
    from fm_core.science.reversal import attack_success
    torch.manual_seed(0)
    model = MaskedClassifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), 0.5, 0.25,
                             {"size": 8, "num_classes": 2}).eval()
    x = torch.rand(64, 1, 8, 8)
    y = model(x).argmax(1)  # every answer right, so success is over all 64
    weak, strong = (attack_success(model, x, y, eps, pgd_steps=5) for eps in (1e-4, 0.5))
    assert 0.0 <= weak < strong and strong > 0.9


def test_attack_energy_by_cue_finds_an_attack_on_the_planted_bins():
    from fm_core.data import synthetic
    truth = synthetic.truth(32)
    k = np.argwhere(truth["high"].any(0) & ~truth["low"].any(0))[0]
    wave = np.cos(2 * np.pi * (k[0] * np.arange(32)[:, None] + k[1] * np.arange(32)[None, :]) / 32)
    x = torch.rand(3, 1, 32, 32)
    shares = experiments.attack_energy_by_cue(x, x + 0.01 * torch.from_numpy(wave).float(), truth)
    assert shares["H"] > 0.99 and shares["L"] < 0.01 and abs(sum(shares.values()) - 1) < 1e-9
    noise = experiments.attack_energy_by_cue(x, x + 0.01 * torch.randn(3, 1, 32, 32), truth)
    assert noise["elsewhere"] > 0.8


ROBUST = {"success": {"1 x eps": 0.02, "2 x eps": 0.97}, "factor": 2.0, "L-bias": 0.01, "eps_pixel": 8 / 255,
          "table2": {"n": 100, "x_A": 0.0, "M(x_A)": 90.0, "random mask, same size (x_A)": 20.0},
          "intervals": {"M(x_A)": [82.0, 95.0], "random mask, same size (x_A)": [13.0, 29.0]},
          "energy kept": {"mean": 0.2}, "energy by cue": {
              "main world, eps": {"L": 0.01, "H": 0.6, "elsewhere": 0.39},
              "robust-H world, 2 x eps": {"L": 0.02, "H": 0.5, "elsewhere": 0.48}}}


def test_the_robust_reversal_verdict_follows_the_intervals():
    from fm_core.pages.adversarial_reversal import judge_robust_world
    verdict = judge_robust_world(ROBUST)
    assert verdict.tested and verdict.reads == "H" and verdict.own_mask_restores_more
    assert not verdict.own_mask_restores_less and verdict.attack_mostly_removed
    assert not judge_robust_world(dict(ROBUST, **{"energy kept": {"mean": 0.7}})).attack_mostly_removed
    same = judge_robust_world(dict(ROBUST, intervals={"M(x_A)": [20.0, 35.0],
                                                      "random mask, same size (x_A)": [13.0, 29.0]}))
    assert not same.own_mask_restores_more and not same.own_mask_restores_less
    below = judge_robust_world(dict(ROBUST, intervals={"M(x_A)": [1.0, 8.0],
                                                       "random mask, same size (x_A)": [13.0, 29.0]}))
    assert below.own_mask_restores_less and not below.own_mask_restores_more
    assert not judge_robust_world(dict(ROBUST, factor=None)).tested


def test_the_robust_reversal_note_is_its_verdict_in_words():
    main_t2 = {"M(x_A)": 100.0, "random mask, same size (x_A)": 25.0}
    kept = {"mean": 0.01}
    note = reversal_notes.robust_world_note(ROBUST, kept, main_t2)
    assert "undoes more of the attack than a random mask" in note and "does not need for its clean answer" in note
    below = dict(ROBUST, intervals={"M(x_A)": [1.0, 8.0], "random mask, same size (x_A)": [13.0, 29.0]})
    assert "restores less than a random mask" in reversal_notes.robust_world_note(below, kept, main_t2)
    assert "cannot be tested" in reversal_notes.robust_world_note(dict(ROBUST, factor=None), kept, main_t2)
    note = reversal_notes.robust_world_note(ROBUST, kept, main_t2)
    assert "1 x eps: 2%, 2 x eps: 97%" in note and "2 x eps (8/255)" in note and "reads H (L-bias 0.01)" in note

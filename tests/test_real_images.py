"""The instruments for the paper's claim on real images, where no truth is planted:
filtered-image behaviour (fm_core.science.filtering), APGD (fm_core.nets.apgd), the eps
rule and breaking multiple (fm_core.science.attack_strength), and the shared page module
that computes them through the store (fm_core.pages.real_images). Networks whose answer is
known (a linear classifier reading one frequency pair), a tiny trained conv net, and the
smoke profile at a tiny setting."""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch import nn

from fm_core.nets.apgd import apgd_attack
from fm_core.nets.attacks import pgd_attack
from fm_core.nets.evaluation import accuracy
from fm_core.nets.models import MaskedClassifier, freeze
from fm_core.profiles import PAPER_EPS_NORMALISED
from fm_core.science import analysis, attack_strength, filtering, rank_null

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

SIZE = 8
FREQ = (1, 2)  # the one frequency the linear network reads: radius sqrt(5)
RADIUS = math.hypot(*FREQ)


def wave(size=SIZE, freq=FREQ) -> torch.Tensor:
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    w = np.cos(2 * np.pi * (freq[0] * i + freq[1] * j) / size)
    return torch.tensor(w / np.linalg.norm(w), dtype=torch.float32)


def one_frequency_network(gain: float = 40.0) -> MaskedClassifier:
    """Two classes; the logit difference is gain * <wave, x> (less a tie-breaker far below
    the images' signal): only the pair +-FREQ matters (the wave has no mean, so neither
    does DC)."""
    linear = nn.Linear(SIZE * SIZE, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.stack([-wave().ravel(), wave().ravel()]) * gain / 2)
        linear.bias.copy_(torch.tensor([1e-3, 0.0]))  # without the pair, class 0 (float noise would pick either)
    return freeze(MaskedClassifier(nn.Sequential(nn.Flatten(), linear), 0.0, 1.0, {"size": SIZE}))


def wave_images(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    noise = 0.03 * torch.randn(n, 1, SIZE, SIZE, generator=g)
    x = 0.5 + (2 * y - 1).float()[:, None, None, None] * 0.15 * wave() + noise
    return x.clamp(0, 1), y


def random_images(n=4, channels=2, h=SIZE, w=SIZE, seed=0):
    return torch.rand(n, channels, h, w, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------ filters
@pytest.mark.parametrize("radius", [0.0, 1.0, RADIUS, 3.5, 100.0])
def test_low_and_high_pass_add_up_to_the_image(radius):
    x = random_images()
    low, high = filtering.low_pass(x, radius), filtering.high_pass(x, radius)
    assert low.dtype == x.dtype and low.shape == x.shape
    assert torch.allclose(low + high, x, atol=1e-6)


def test_low_pass_at_zero_is_the_mean_image_and_high_pass_removes_the_mean():
    x = random_images(h=6, w=10)  # not square: the radius is per axis
    mean = x.mean(dim=(-2, -1), keepdim=True).expand_as(x)
    assert torch.allclose(filtering.low_pass(x, 0.0), mean, atol=1e-6)
    high = filtering.high_pass(x, 0.0)
    assert torch.allclose(high.mean(dim=(-2, -1)), torch.zeros(x.shape[:2]), atol=1e-6)
    assert not torch.allclose(high, torch.zeros_like(high))


def test_beyond_the_corner_the_low_pass_keeps_all_and_the_high_pass_nothing():
    x = random_images()
    top = float(filtering.frequency_radius(SIZE, SIZE).max())
    assert torch.equal(filtering.high_pass(x, top), torch.zeros_like(x))  # exactly: no bin is left
    assert torch.allclose(filtering.low_pass(x, top), x, atol=1e-6)


def test_filters_are_symmetric_and_follow_the_books_frequency_grid():
    for size in (7, 8, 32):
        ky, kx = analysis.frequency_grid(size)
        for radius in (0.0, 1.0, 2.5, 5.0):
            keep = filtering.low_pass_mask(size, size, radius)
            mirrored = np.roll(keep[::-1, ::-1], 1, axis=(0, 1))  # the mask at -k
            assert np.array_equal(keep, mirrored)
            assert np.array_equal(keep, np.hypot(ky, kx) <= radius + filtering.RADIUS_TOLERANCE)
    x = random_images()  # so the filtered images of real images are real: nothing dropped
    spectrum = torch.fft.fft2(filtering.low_pass(x, 2.0).double())
    assert torch.allclose(spectrum, spectrum * torch.as_tensor(filtering.low_pass_mask(SIZE, SIZE, 2.0)), atol=1e-5)


def test_band_edges_are_the_outer_edges_of_the_radial_bands():
    for size, n in ((8, 4), (32, 8)):
        edges = filtering.band_edges(size, n)
        bands, radius = analysis.radial_bands(size, n), filtering.frequency_radius(size, size)
        assert len(edges) == n and edges[-1] == pytest.approx(radius.max())
        for b in range(n):  # every bin of band b lies within its outer edge
            assert (radius[bands[b]] <= edges[b] + 1e-9).all()


@pytest.mark.parametrize("size", [7, 8, 32])
def test_the_median_radius_halves_the_bins(size):
    radius, r_star = filtering.frequency_radius(size, size), filtering.median_radius(size)
    half = size * size / 2
    assert (radius <= r_star).sum() >= half and (radius < r_star).sum() <= half


def test_low_share_of_a_mask():
    size = 8
    r_star, low = filtering.median_radius(size), filtering.low_pass_mask(size, size, filtering.median_radius(size))
    assert filtering.low_share(np.ones((size, size)), r_star) == low.mean()  # a flat mask: the bins' share
    assert filtering.low_share(low.astype(float), r_star) == 1.0
    assert filtering.low_share((~low).astype(float), r_star) == 0.0
    assert math.isnan(filtering.low_share(np.zeros((size, size)), r_star))
    one_sided = np.zeros((size, size))
    one_sided[1, 2] = 1.0  # only k, not -k: the filter applied is half of it at both, the same share
    mirror = np.roll(one_sided[::-1, ::-1], 1, axis=(0, 1))
    assert mirror[-1, -2] == 1.0 and filtering.low_share(one_sided, r_star) == filtering.low_share(mirror, r_star)
    one_sided[3, 3] = 1.0  # a high bin (radius 4.2) beside the low one: half the mass
    assert filtering.low_share(one_sided, r_star) == 0.5


# --------------------------------------------------- behaviour of a known network
def test_filtered_accuracy_steps_at_the_one_frequency_the_network_reads():
    model, (x, y) = one_frequency_network(), wave_images()
    assert accuracy(model, x, y) == 1.0
    radii = [0.0, 1.0, 2.0, RADIUS, 3.0, 6.0]
    curves = filtering.filtered_accuracy(model, x, y, radii)
    assert curves["radii"] == radii and len(curves["low"]) == len(curves["high"]) == len(radii)
    read = [r >= RADIUS for r in radii]
    # without the pair every image is called class 0 (half of them): 50%, else 100%
    assert curves["low"] == [100.0 if keeps else 50.0 for keeps in read]
    assert curves["high"] == [50.0 if keeps else 100.0 for keeps in read]
    assert curves["low"] == sorted(curves["low"]) and curves["high"] == sorted(curves["high"], reverse=True)


def test_band_ablation_costs_only_the_band_of_that_frequency():
    model, (x, y) = one_frequency_network(), wave_images()
    n = 4
    out = filtering.band_ablation(model, x, y, n)
    bands = analysis.radial_bands(SIZE, n)
    holding = [b for b in range(n) if bands[b][FREQ]]
    assert len(holding) == 1 and out["clean"] == 100.0 and len(out["removed"]) == n
    assert out["removed"] == [50.0 if b in holding else 100.0 for b in range(n)]
    assert out["edges"] == filtering.band_edges(SIZE, n)


def test_an_empty_band_has_no_accuracy():
    model, (x, y) = one_frequency_network(), wave_images(n=4)
    bands = analysis.radial_bands(SIZE, 40)
    out = filtering.band_ablation(model, x, y, 40)
    empty = [b for b in range(40) if not bands[b].any()]
    assert empty and all(math.isnan(out["removed"][b]) for b in empty)


# --------------------------------------------------------------------- attacks
GRATINGS = [(0, 2), (2, 0), (2, 2)]


def gratings(n: int, seed: int, size: int = 12):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % len(GRATINGS)
    i, j = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    f = torch.tensor(GRATINGS, dtype=torch.float64)[y]
    phase = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    arg = 2 * math.pi * (f[:, 0, None, None] * i + f[:, 1, None, None] * j) / size + phase[:, None, None]
    x = 0.5 + 0.25 * torch.cos(arg) + 0.1 * torch.randn(n, size, size, generator=g, dtype=torch.float64)
    return x.clamp(0, 1)[:, None].float(), y


@pytest.fixture(scope="module")
def trained():
    """A tiny conv net trained on gratings (about a second; tests/test_masks.py's), and
    held-out images."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x, y = gratings(300, seed=0)
    torch.manual_seed(0)
    core = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, len(GRATINGS)))
    model = MaskedClassifier(core, 0.5, 0.25, {"size": 12})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(len(x), (64,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.set_num_threads(threads)
    model = freeze(model)
    x_val, y_val = gratings(96, seed=1)
    assert accuracy(model, x_val, y_val) >= 0.95
    return model, x_val, y_val


EPS = 0.1  # where 10-step PGD flips some of the tiny net's images but not all (checked below)


def test_apgd_is_at_least_as_strong_as_pgd_and_deterministic(trained):
    model, x, y = trained
    pgd = accuracy(model, pgd_attack(model, x, y, EPS, steps=10, seed=0), y)
    assert 0.0 < pgd < 1.0, "eps too weak or too strong to compare attacks"
    state = torch.random.get_rng_state()
    start = time.perf_counter()
    a = apgd_attack(model, x, y, EPS, seed=3)
    seconds = time.perf_counter() - start
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is given back
    b = apgd_attack(model, x, y, EPS, seed=3)
    assert torch.equal(a, b)
    assert (a - x).abs().max() <= EPS + 1e-6 and a.min() >= 0 and a.max() <= 1
    apgd = accuracy(model, a, y)
    assert apgd <= pgd + 0.02, (apgd, pgd)  # slack: two images of 96
    print(f"APGD (default {seconds:.2f} s for {len(x)} images), accuracy {apgd:.3f}; PGD-10 {pgd:.3f}")


def test_paper_eps_pixel_inverts_eps_normalised():
    from fm_core.nets.attacks import eps_normalised

    for std in (0.226, 0.3, 1.0):
        assert eps_normalised(attack_strength.paper_eps_pixel(std), std) == pytest.approx(PAPER_EPS_NORMALISED)


def test_the_breaking_search_stops_at_the_first_multiple_below_the_line():
    calls = []

    def accuracy_at(m):  # a known function of eps: 100% at no attack, falling by 20 points per multiple
        calls.append(m)
        return max(0.0, 100.0 - 20.0 * m)

    out = attack_strength.weakest_breaking(accuracy_at, (4, 1, 2, 3, 6, 8), below=10.0)
    assert out["multiple"] == 6 and calls == [1, 2, 3, 4, 6]  # weakest first, stops once below
    assert out["accuracy"] == {1: 80.0, 2: 60.0, 3: 40.0, 4: 20.0, 6: 0.0}
    out = attack_strength.weakest_breaking(accuracy_at, (1, 2), below=10.0)
    assert out == {"multiple": None, "accuracy": {1: 80.0, 2: 60.0}}
    assert attack_strength.weakest_breaking(accuracy_at, (4,), below=20.0)["multiple"] is None  # strictly below
    assert attack_strength.weakest_breaking(accuracy_at, (4,), below=20.5)["multiple"] == 4


def test_breaking_multiple_on_a_tiny_network(trained):
    model, x, y = trained
    out = attack_strength.breaking_multiple(model, x, y, EPS / 2, multiples=(1, 2, 4, 8), below=10.0)
    accs = list(out["accuracy"].values())
    assert out["eps_pixel"] == EPS / 2 and accs == sorted(accs, reverse=True)  # a stronger PGD does no better
    assert out["multiple"] is not None and out["accuracy"][out["multiple"]] < 10.0
    assert all(a >= 10.0 for m, a in out["accuracy"].items() if m < out["multiple"])
    direct = accuracy(model, pgd_attack(model, x, y, EPS / 2 * out["multiple"], steps=10, seed=0), y)
    assert out["accuracy"][out["multiple"]] == round(100 * direct, 2)


# --------------------------------------------------------------------- the verdicts
def test_the_agreement_line_is_the_exact_permutation_tail():
    from fm_core.pages import real_images as ri

    null = rank_null.spearman_null(5)
    assert sum(null.values()) == 120 and null[0] == 1 and null[2] == 4  # rho 1: one ranking; rho 0.9: four
    assert rank_null.mean_rho_line(5, 1, 0.05) == pytest.approx(0.9)  # the textbook critical value at n = 5
    assert rank_null.mean_rho_p(1.0, 5, 1) == pytest.approx(1 / 120) and rank_null.mean_rho_p(0.9, 5, 1) == pytest.approx(5 / 120)
    line = ri.AGREEMENT_LINE
    assert line == rank_null.mean_rho_line(5, 3, ri.AGREEMENT_ALPHA)
    assert rank_null.mean_rho_p(line, 5, 3) <= ri.AGREEMENT_ALPHA < rank_null.mean_rho_p(line - 0.1 / 3, 5, 3)  # the next value down
    rng = np.random.default_rng(0)  # the tail by simulation: three independent random rankings
    draws = np.array([[1 - 6 * np.sum((rng.permutation(5) - np.arange(5)) ** 2) / 120 for _ in range(3)]
                      for _ in range(100_000)]).mean(axis=1)
    assert np.mean(draws >= line - 1e-9) == pytest.approx(rank_null.mean_rho_p(line, 5, 3), abs=0.002)


SEEDS, REGIMES5 = [1, 2, 3], ["vanilla", "adversarial", "scale", "translate", "rotate"]


def crafted_rows(share, preference):
    return {r: {str(s): {"low share": share(i, s), "low preference": preference(i, s)} for s in SEEDS}
            for i, r in enumerate(REGIMES5)}


def test_the_mask_behaviour_verdict_on_crafted_rows():
    from fm_core.pages import real_images as ri

    same = ri.agreement(crafted_rows(lambda i, s: 0.1 * i + 0.01 * s, lambda i, s: 10.0 * i + s), SEEDS, REGIMES5)
    assert same["rho per seed"] == pytest.approx([1.0, 1.0, 1.0]) and same["regimes"] == 5
    v = ri.judge_mask_behaviour(same)
    assert v.agree and v.rho_per_seed == pytest.approx((1.0, 1.0, 1.0)) and v.rho_mean == pytest.approx(1.0)
    assert v.rho_sd == 0.0 and v.line == ri.AGREEMENT_LINE and v.p_value == pytest.approx(1 / 120 ** 3)
    reverse = ri.judge_mask_behaviour(ri.agreement(
        crafted_rows(lambda i, s: 0.1 * i, lambda i, s: -10.0 * i), SEEDS, REGIMES5))
    assert reverse.rho_mean == pytest.approx(-1.0) and not reverse.agree and reverse.p_value == pytest.approx(1.0)


def test_seeds_in_clusters_make_a_high_pooled_rho_but_no_agreement():
    """Each seed sits in its own cluster (the extra seeds' cheaper setting moves both scores),
    and within a seed the regimes' order disagrees: pooled over the 15 networks rho is high,
    per seed it is not, and the verdict follows the seeds."""
    from fm_core.pages import real_images as ri
    from fm_core.science.cue_analysis import rank_correlation

    order = {1: [0, 1, 2, 3, 4], 2: [4, 3, 2, 1, 0], 3: [1, 3, 0, 4, 2]}  # behaviour's rank of regime i, per seed
    rows = crafted_rows(lambda i, s: s + 0.1 * i, lambda i, s: 100.0 * s + order[s][i])
    flat = [(rows[r][str(s)]["low share"], rows[r][str(s)]["low preference"]) for r in REGIMES5 for s in SEEDS]
    pooled = rank_correlation(*zip(*flat))
    assert pooled > 0.85  # what the pooled score said
    v = ri.judge_mask_behaviour(ri.agreement(rows, SEEDS, REGIMES5))
    assert v.rho_per_seed == pytest.approx((1.0, -1.0, 0.3)) and v.rho_mean == pytest.approx(0.1)
    assert v.rho_sd == pytest.approx(np.std([1.0, -1.0, 0.3], ddof=1)) and v.p_value > 0.3 and not v.agree


def test_the_mask_behaviour_verdict_at_its_line_and_undefined():
    from fm_core.pages import real_images as ri

    line = ri.AGREEMENT_LINE  # 2/3: per-seed rhos 0.9, 0.6, 0.5 reach it, 0.9, 0.6, 0.4 do not
    at = ri.judge_mask_behaviour({"rho per seed": [0.9, 0.6, 0.5], "regimes": 5})
    below = ri.judge_mask_behaviour({"rho per seed": [0.9, 0.6, 0.4], "regimes": 5})
    assert at.rho_mean == pytest.approx(line) and at.agree and at.p_value <= ri.AGREEMENT_ALPHA
    assert not below.agree and below.p_value > ri.AGREEMENT_ALPHA
    undefined = ri.judge_mask_behaviour({"rho per seed": [1.0, float("nan"), 1.0], "regimes": 5})
    assert not undefined.agree and np.isnan(undefined.rho_mean) and np.isnan(undefined.p_value)
    one = ri.judge_mask_behaviour({"rho per seed": [0.95], "regimes": 5})  # one seed: its own line, 1.0
    assert one.line == pytest.approx(1.0) and not one.agree and np.isnan(one.rho_sd)
    flat = ri.agreement(crafted_rows(lambda i, s: 0.5, lambda i, s: float(i)), SEEDS, REGIMES5)  # constant share
    assert all(np.isnan(r) for r in flat["rho per seed"]) and not ri.judge_mask_behaviour(flat).agree


def test_the_robust_low_verdict_per_seed():
    from fm_core.pages import robust_low as ri

    def rows(adv_share, adv_pref):
        return {"vanilla": {str(s): {"low share": 0.5, "low preference": 0.0} for s in (1, 2)},
                "adversarial": {"1": {"low share": adv_share[0], "low preference": adv_pref[0]},
                                "2": {"low share": adv_share[1], "low preference": adv_pref[1]}}}

    v = ri.judge_robust_low(rows((0.6, 0.7), (5.0, 1.0)), [1, 2])
    assert v.by_mask == (True, True) and v.by_mask_all and v.by_behaviour_all
    assert v.mask_gap == pytest.approx((0.1, 0.2)) and v.behaviour_gap == (5.0, 1.0)
    v = ri.judge_robust_low(rows((0.6, 0.5), (5.0, -1.0)), [1, 2])  # equal is not larger
    assert v.by_mask == (True, False) and not v.by_mask_all
    assert v.by_behaviour == (True, False) and not v.by_behaviour_all
    assert all(np.isnan(e) for e in v.behaviour_se)  # rows without accuracies: the direction alone


def test_a_behaviour_gap_counts_only_beyond_its_sampling_error():
    from fm_core.pages import robust_low as ri

    def cell(low, high, n=500):
        return {"low share": 0.5, "low preference": low - high, "low-pass, %": low, "high-pass, %": high, "images": n}

    rows = {"vanilla": {"1": cell(88.0, 42.0), "2": cell(88.0, 42.0)},
            "adversarial": {"1": cell(88.0, 20.0), "2": cell(88.0, 40.0)}}  # gaps +22 and +2 points
    se = ri.behaviour_gap_se(rows, 1)
    # four binomial variances p(1 - p) / n, in points
    assert se == pytest.approx(100 * np.sqrt((0.88 * 0.12 * 2 + 0.42 * 0.58 + 0.2 * 0.8) / 500))
    v = ri.judge_robust_low(rows, [1, 2])
    assert v.behaviour_gap == pytest.approx((22.0, 2.0)) and v.by_behaviour == (True, False)
    assert v.behaviour_within_noise == (False, True) and not v.by_behaviour_all
    # with ten times the images the same +2 points is beyond it
    for r in rows.values():
        r["2"]["images"] = 50_000
    assert ri.judge_robust_low(rows, [1, 2]).by_behaviour == (True, True)


def test_a_mask_gap_counts_only_beyond_its_sampling_error():
    """The mask gap's line: masks of the same networks learned on the other half of the images
    give a second gap per seed; the pooled SE is sqrt(mean d^2 / 2), and a gap inside
    BEHAVIOUR_Z of them has no direction."""
    from fm_core.pages import robust_low as ri

    def cell(share, other):
        return {"low share": share, "low share, other half": other, "low preference": 0.0}

    # gaps (fit half) +0.10, +0.01, +0.05; on the other half +0.08, +0.03, +0.05: d = 0.02, -0.02, 0
    rows = {"vanilla": {s: cell(0.5, 0.5) for s in "123"},
            "adversarial": {"1": cell(0.60, 0.58), "2": cell(0.51, 0.53), "3": cell(0.55, 0.55)}}
    se = ri.mask_gap_se(rows, [1, 2, 3])
    assert se == pytest.approx(np.sqrt((0.02 ** 2 + 0.02 ** 2 + 0) / 3 / 2))
    v = ri.judge_robust_low(rows, [1, 2, 3])
    assert v.mask_se == pytest.approx(se) and ri.BEHAVIOUR_Z * se == pytest.approx(0.0231, abs=1e-4)
    assert v.by_mask == (True, False, True) and v.mask_within_noise == (False, True, False)
    # without the second half: the direction alone, as before the line
    for r in rows.values():
        for c in r.values():
            del c["low share, other half"]
    bare = ri.judge_robust_low(rows, [1, 2, 3])
    assert np.isnan(bare.mask_se) and bare.by_mask == (True, True, True) and bare.mask_within_noise == ()


def test_the_robust_verdict_on_both_sides_of_its_lines():
    from fm_core.nets.evaluation import CHANCE_MARGIN
    from fm_core.pages import real_images as ri

    ok = ri.judge_robust({"PGD, %": 60.0, "APGD, %": 60.0 - ri.ROBUST_GAP}, 5)
    assert ok.robust and not ok.gradient_masking_suspected and ok.above_chance
    masked = ri.judge_robust({"PGD, %": 60.0, "APGD, %": 60.0 - ri.ROBUST_GAP - 0.01}, 5)
    assert masked.gradient_masking_suspected and not masked.robust
    chance = 100 * (1 / 5 + CHANCE_MARGIN)
    low = ri.judge_robust({"PGD, %": chance, "APGD, %": chance}, 5)
    assert not low.above_chance and not low.robust and not low.gradient_masking_suspected
    assert ri.judge_robust({"PGD, %": chance + 1, "APGD, %": chance + 1}, 5).robust


# ------------------------------------------------- the page module through the store
@pytest.fixture
def tiny_smoke():
    from fm_core.profiles import get_profile

    return get_profile("smoke").replace(n_train=60, n_val=40, epochs=1, dmask_max_steps=4, dmask_window=2,
                                        dmask_batch_size=8, bands=4)


def test_the_page_module_computes_once_and_reads_the_store_after(tiny_smoke, monkeypatch):
    from fm_core.pages import real_images as ri
    from fm_core.store import pipeline

    cfg = tiny_smoke
    seeds = ri.seeds_for(cfg)
    assert seeds == [cfg.seed, cfg.seed + 1000, cfg.seed + 2000]
    masks = ri.mask_behaviour(cfg, seeds, progress=False)
    acts = ri.behaviour(cfg, seeds, progress=False)
    robust, eps = ri.robustness(cfg, progress=False), ri.eps_choice(cfg, progress=False)
    n_score = len(pipeline.score_half(cfg)[1])
    for regime in ri.REGIMES:
        for s in seeds:
            row = acts["networks"][regime][str(s)]
            assert len(row["low"]) == len(row["high"]) == len(row["radii"]) == cfg.bands
            assert len(row["band ablation"]["removed"]) == min(cfg.bands, ri.ABLATION_BANDS)
            assert row["low"][-1] == row["band ablation"]["clean"]  # the last edge keeps every bin
            m = masks["networks"][regime][str(s)]
            assert 0 <= m["low share"] <= 1 and len(m["radii"]) == len(m["profile"])
            at = row["at median radius"]
            assert m["low preference"] == pytest.approx(at["low"][0] - at["high"][0])
            assert all(round(a * n_score / 100) * 100 / n_score == pytest.approx(a, abs=0.01) for a in row["low"])
    verdict = masks[ri.VERDICT_KEY]
    mb = verdict["mask_behaviour"]
    assert len(masks["rho per seed"]) == 3 and mb["line"] == ri.AGREEMENT_LINE
    assert json.dumps(mb, sort_keys=True) == json.dumps(ri._plain(asdict(ri.judge_mask_behaviour(masks))), sort_keys=True)
    assert len(verdict["robust_low"]["by_mask"]) == 3
    for regime in ("vanilla", "adversarial"):
        assert robust[regime]["PGD, %"] <= robust[regime]["clean, %"]
        assert ("APGD, %" in robust[regime]) == (regime in ri.APGD_REGIMES)
    assert robust["adversarial"]["APGD, %"] <= robust["adversarial"]["clean, %"]
    assert set(robust[ri.VERDICT_KEY]) == {"apgd_gap", "gradient_masking_suspected", "above_chance", "robust"}
    assert eps["paper eps_pixel"] == pytest.approx(ri.attack_strength.paper_eps_pixel(pipeline.get_dataset(cfg).std))
    assert eps["breaking multiple"] is None or eps["accuracy by multiple"][f"{eps['breaking multiple']:g}"] < 10
    stored = pipeline.load_results(cfg)
    assert {ri.BEHAVIOUR, ri.MASKS, ri.ROBUSTNESS, ri.EPS_CHOICE} <= set(stored)

    def no_more(*args, **kwargs):
        raise AssertionError("a second call computed again")

    for name in ("get_network", "get_dataset_mask", "train_network"):
        monkeypatch.setattr(pipeline, name, no_more)
    assert ri.mask_behaviour(cfg, seeds, progress=False) == masks
    assert ri.behaviour(cfg, seeds, progress=False) == acts
    assert ri.robustness(cfg, progress=False) == robust and ri.eps_choice(cfg, progress=False) == eps
    with pytest.raises(AssertionError, match="computed again"):  # other seeds: computed, not read
        ri.behaviour(cfg, seeds[:1], progress=False)


def test_breaking_multiple_of_a_linear_network_is_its_closed_form():
    """For a linear network the strongest L-inf attack moves every pixel by eps along the
    sign of the weights (the corner of the ball); PGD with steps x eps/8 >= 2 eps reaches it
    from any random start. So the accuracy at each multiple is known without PGD."""
    model, (x, y) = one_frequency_network(), wave_images(n=64)
    toward_wrong = (1 - 2 * y).float()[:, None, None, None] * torch.sign(wave())  # class 1 reads +wave

    def corner_accuracy(eps):
        return round(100 * accuracy(model, (x + eps * toward_wrong).clamp(0, 1), y), 2)

    eps, multiples = 0.004, (1, 2, 3, 4, 6, 8)
    expected = [corner_accuracy(eps * m) for m in multiples]
    assert expected[0] > 10.0 and expected[-1] < 10.0 and expected == sorted(expected, reverse=True)
    out = attack_strength.breaking_multiple(model, x, y, eps, multiples, below=10.0, steps=20)
    first = next(m for m, a in zip(multiples, expected) if a < 10.0)
    assert out["multiple"] == first
    assert out["accuracy"] == {m: a for m, a in zip(multiples, expected) if m <= first}

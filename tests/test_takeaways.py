"""The sentences under the paper's figures (:mod:`fm_core.book.figure_notes`) follow their
numbers: each is tested on crafted inputs both ways, so that a sentence whose direction
did not flip with its numbers fails. And page 10's scatter draws coinciding points apart."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fm_core.book import figure_notes, figures  # noqa: E402
from fm_core.book.figures.cues import COINCIDE_WITHIN, SPREAD_RADIUS, coinciding_groups, drawn_positions  # noqa: E402
from fm_core.fourier import apply_fourier_mask  # noqa: E402
from fm_core.science import experiments  # noqa: E402
from fm_core.science.filtering import low_pass_mask, median_radius  # noqa: E402

SIZE = 16


def _low_and_high():
    low = low_pass_mask(SIZE, SIZE, median_radius(SIZE)).astype(float)
    return low, 1.0 - low


# ---------------------------------------------------------------------------- Figure 3
def test_dataset_masks_takeaway_says_which_mask_sits_lower():
    low, high = _low_and_high()
    paper = figure_notes.dataset_masks_takeaway({"names": ["vanilla", "adversarial"], "masks": np.stack([high, low])})
    assert "adversarial network's mask keeps more of its mass at low frequencies" in paper
    assert "1.00 against 0.00" in paper and "the paper's reading" in paper and "against the paper" not in paper
    flipped = figure_notes.dataset_masks_takeaway({"names": ["vanilla", "adversarial"], "masks": np.stack([low, high])})
    assert "keeps less of its mass" in flipped and "against the paper's reading" in flipped


def test_dataset_masks_takeaway_names_the_densest_mask():
    low, high = _low_and_high()
    text = figure_notes.dataset_masks_takeaway({"names": ["vanilla", "scale"], "masks": np.stack([low * 0.2, high])})
    assert "The scale network's mask keeps the most of the spectrum" in text
    assert "the vanilla network's the least" in text
    assert "paper's reading" not in text  # no adversarial network, no claim about it


# ---------------------------------------------------------------------------- Figure 4
def _energies(adversarial: float, scale: float, metric: str = "mean") -> dict:
    return {"reference": "vanilla", "regimes": ["adversarial", "scale"], "n_bands": 8, "metric": metric,
            "low_minus_high_radial": {"adversarial": adversarial, "scale": scale}}


def test_band_takeaway_follows_the_sign_of_low_minus_high():
    text = figure_notes.band_takeaway(_energies(0.3, -0.2))
    assert "adversarial +0.30, scale -0.20" in text and "low bands 0 to 3" in text and "high bands 4 to 7" in text
    assert "Relatively more of the low frequencies than the vanilla network: adversarial." in text
    assert "is among them, the paper's reading" in text
    flipped = figure_notes.band_takeaway(_energies(-0.3, -0.2))
    assert "No network keeps relatively more" in flipped and "is not, against the paper's reading" in flipped


def test_band_takeaway_names_its_metric():
    assert "(band energy minus" in figure_notes.band_takeaway(_energies(0.1, 0.1, metric="energy"))
    assert "(fraction kept minus" in figure_notes.band_takeaway(_energies(0.1, 0.1))


# ---------------------------------------------------------------------------- Figure 5
def _examples(labels):
    low, high = _low_and_high()
    rng = np.random.default_rng(0)
    classes = np.stack([low, high])
    masks = np.stack([0.5 * classes[c] + 0.05 * rng.random((SIZE, SIZE)) for c in (0, 0, 1, 1)])
    return {"masks": masks, "labels": np.asarray(labels), "class_masks": classes}


def test_image_masks_takeaway_sees_masks_like_their_class():
    text = figure_notes.image_masks_takeaway(_examples([0, 0, 1, 1]))
    assert "keep less of the spectrum than the class masks" in text
    assert "resembles its own class's mask more" in text and "so the masks shown look class-specific" in text
    flipped = figure_notes.image_masks_takeaway(_examples([1, 1, 0, 0]))  # each mask under the wrong class
    assert "resembles its own class's mask no more" in flipped and "do not look class-specific" in flipped


# ---------------------------------------------------------------------------- Figure 6
def _reversal(passed: float):
    rng = np.random.default_rng(1)
    x = rng.random((3, SIZE, SIZE))
    delta = 0.05 * rng.standard_normal((3, SIZE, SIZE))
    fx = 0.5 * x
    return {"x": x, "x_adv": x + delta, "filtered_x": fx, "filtered_xadv": fx + np.sqrt(passed) * delta}


def test_reversal_takeaway_follows_the_attack_let_through():
    text = figure_notes.reversal_examples_takeaway(_reversal(0.01))
    assert "1.0% to 1.0%" in text and "in 3 of 3 rows" in text and "M(x_A) looks like M(x) in every row" in text
    flipped = figure_notes.reversal_examples_takeaway(_reversal(0.5))
    assert "in 0 of 3 rows" in flipped and "the attack passes the masks" in flipped


def test_attack_passed_is_the_energy_the_mask_keeps():
    """By the mask layer's linearity and Parseval, the figure's share per row is
    experiments.attack_energy_kept's."""
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.random((4, 1, SIZE, SIZE)))
    x_adv = x + 0.03 * torch.from_numpy(rng.standard_normal((4, 1, SIZE, SIZE)))
    masks = rng.random((4, SIZE, SIZE))
    examples = {"x": x[:, 0].numpy(), "x_adv": x_adv[:, 0].numpy(),
                "filtered_x": apply_fourier_mask(x, masks)[:, 0].numpy(),
                "filtered_xadv": apply_fourier_mask(x_adv, masks)[:, 0].numpy()}
    np.testing.assert_allclose(figure_notes.attack_passed(examples),
                               experiments.attack_energy_kept(x, x_adv, masks), rtol=1e-6)


# ---------------------------------------------------------------------------- Figure 7
def _preference(low_more: float, high_more: float) -> dict:
    more = np.array([low_more, low_more, high_more, high_more])
    return {"radial": {"more": more, "equal": np.zeros(4), "less": 100 - more}}


def test_band_preference_takeaway_says_which_way_the_mask_leans():
    text = figure_notes.band_preference_takeaway(_preference(80, 20), "M_A,x > M_N,x")
    assert "M_A,x keeps more than M_N,x for 80% of the images and less for 20%" in text
    assert "So M_A,x leans to the low frequencies" in text
    assert "(its lead, more minus less, is +60 points in the low bands and -60 in the high)" in text
    flipped = figure_notes.band_preference_takeaway(_preference(20, 80), "M_A,x > M_N,x")
    assert "So M_A,x does not lean to the low frequencies" in flipped


# ---------------------------------------------------------------------------- Figure 8
TABLE3 = {"true_labels": {"test_mean": 90.0, "test_low": 85.0, "test_high": 94.0},
          "shuffled_labels": {"train_mean": 60.0}, "chance": 50.0, "p_value": 0.005, "n_permutations": 199}


def test_umap_takeaway_sees_clusters_and_reads_table3():
    labels = np.repeat([0, 1], 10)
    apart = np.concatenate([np.zeros((10, 2)), np.full((10, 2), 10.0)]) + np.random.default_rng(3).random((20, 2))
    same, chance, pair = figure_notes.nearest_same_class(apart, labels)
    assert same == 1.0 and chance == pytest.approx(2 * 10 * 9 / (20 * 19)) and pair is None
    text = figure_notes.umap_takeaway(apart, labels, ["shirt", "bag"], TABLE3)
    assert text.startswith("100% of the 20 masks") and "the classes cluster" in text
    assert text.endswith("the masks carry class information.")


def test_umap_takeaway_flips_when_classes_interleave():
    labels = np.tile([0, 1], 10)
    line = np.stack([np.arange(20.0), np.zeros(20)], axis=1)  # neighbours alternate classes
    text = figure_notes.umap_takeaway(line, labels, ["shirt", "bag"], {**TABLE3, "p_value": 0.4})
    assert text.startswith("0% of the 20 masks") and "do not cluster" in text
    assert "most often mixed are shirt and bag" in text
    assert text.endswith("by it the masks do not carry class information.")


# ---------------------------------------------------------------------------- cue scatter (page 10)
def _rows(l_only=(1.0, 1.0), h_only=(0.0, 0.001)) -> dict:
    """(L-share, L-bias) per condition; the controls stack on the robust-H networks."""
    at = {"vanilla": (0.17, 0.01), "adversarial": (0.98, 1.0), "rotate": (0.39, 0.9),
          "vanilla, robust-H world": (0.0, 0.0), "adversarial, robust-H world": (0.0, 0.0),
          "vanilla, trained on L only": l_only, "vanilla, trained on H only": h_only}
    return {n: {"L-share": s, "L-bias": b} for n, (s, b) in at.items()}


def test_coinciding_points_are_grouped_and_chained():
    groups = coinciding_groups(_rows())
    assert groups == [["adversarial", "vanilla, trained on L only"],
                      ["vanilla, robust-H world", "adversarial, robust-H world", "vanilla, trained on H only"]]
    chain = {n: {"L-share": s, "L-bias": 0.5} for n, s in (("a", 0.0), ("b", 0.8 * COINCIDE_WITHIN),
                                                             ("c", 1.6 * COINCIDE_WITHIN), ("d", 0.5))}
    assert coinciding_groups(chain) == [["a", "b", "c"]]


def _drawn(fig) -> dict[str, np.ndarray]:
    """Each labelled scatter point's drawn position, read back from the figure's artists."""
    return {c.get_label(): c.get_offsets()[0] for c in fig.axes[0].collections if not c.get_label().startswith("_")}


def test_scatter_draws_the_stacked_controls_apart():
    rows = _rows()
    fig = figures.plot_bias_vs_share(rows)
    try:
        drawn = _drawn(fig)
        assert set(drawn) == set(rows)
        stacked = ["vanilla, robust-H world", "adversarial, robust-H world", "vanilla, trained on H only"]
        for i, a in enumerate(stacked):
            true = np.array([rows[a]["L-share"], rows[a]["L-bias"]])
            assert np.linalg.norm(drawn[a] - true) <= SPREAD_RADIUS + COINCIDE_WITHIN  # near its true place
            for b in stacked[i + 1:]:
                assert np.linalg.norm(drawn[a] - drawn[b]) > SPREAD_RADIUS  # and apart from the others
        assert np.linalg.norm(drawn["adversarial"] - drawn["vanilla, trained on L only"]) > SPREAD_RADIUS
        np.testing.assert_allclose(drawn["rotate"], [0.39, 0.9])  # a lone point stays where it is
        markers = {n: c.get_paths()[0].vertices.shape for n, c in
                   ((c.get_label(), c) for c in fig.axes[0].collections)}
        assert markers["vanilla, trained on L only"] != markers["vanilla"]  # the controls' own markers
        assert markers["vanilla, trained on H only"] != markers["vanilla, trained on L only"]
        assert any(t.startswith("true position") for t in (x.get_text() for x in fig.axes[0].get_legend().texts))
    finally:
        plt.close(fig)


def test_scatter_draws_apart_points_without_neighbours_as_they_are():
    rows = {"vanilla": {"L-share": 0.2, "L-bias": 0.1}, "adversarial": {"L-share": 0.8, "L-bias": 0.9}}
    assert drawn_positions(rows) == {"vanilla": (0.2, 0.1), "adversarial": (0.8, 0.9)}


def test_bias_share_takeaway_follows_the_rows():
    text = figure_notes.bias_share_takeaway(_rows())
    assert text.startswith("6 of 7 conditions lie within 0.3 of the diagonal")
    assert "farthest off: rotate (L-bias 0.90, L-share 0.39)" in text
    assert "lie at (L-share, L-bias) = (1.00, 1.00) and (0.00, 0.00): their masks find the cue each was given" in text
    assert ("drawn apart around their true position (black dot): *adversarial* and *vanilla, trained on L only* "
            "at (0.99, 1.00); *vanilla, robust-H world* and *adversarial, robust-H world* and *vanilla, trained on "
            "H only* at (0.00, 0.00).") in text
    swapped = figure_notes.bias_share_takeaway(_rows(l_only=(0.0, 1.0), h_only=(1.0, 0.0)))
    assert "their masks miss the cue each was given" in swapped
    assert swapped.startswith("4 of 7 conditions")

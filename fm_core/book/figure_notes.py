"""The sentence under each of the paper's figures (Figures 3 to 8, pages 04 to 07) and under
page 10's cue scatter: what a reader should see, from the numbers the figure draws. Thin
templates over those numbers: each line a sentence draws is a page's verdict or constant
(named where used), or the figure's own (its diagonal, its zero line); nothing is typed.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from fm_core.fourier import symmetric_part
from fm_core.pages.adversarial_reversal import ATTACK_PASSES
from fm_core.pages.cue_question import AGREES_WITHIN, judge_answer
from fm_core.pages.mask_classifier import judge_table3
from fm_core.science.filtering import low_share, median_radius

from .figures.cues import COINCIDE_WITHIN, coinciding_groups

ROBUST = "adversarial"  # the network the paper reads as moving to low frequencies


def _listed(values: Mapping[str, float], digits: int = 2, signed: bool = False) -> str:
    form = f"{'+' if signed else ''}.{digits}f"
    return ", ".join(f"{name} {value:{form}}" for name, value in values.items())


# ---------------------------------------------------------------------- Figure 3 (page 04)
def dataset_masks_takeaway(figure3: Mapping) -> str:
    """Under Figure 3: each dataset mask's low share at the median radius r* (the share of
    its mass at low frequencies, :func:`fm_core.science.filtering.low_share`, as page 04's
    score), the robust network's against the reference (first) network's, and how much of
    the spectrum each keeps (mean mask value)."""
    names, masks = list(figure3["names"]), np.asarray(figure3["masks"], dtype=float)
    r_star = median_radius(masks.shape[-1])
    shares = {n: low_share(m, r_star) for n, m in zip(names, masks)}
    kept = {n: float(m.mean()) for n, m in zip(names, masks)}
    flat = low_share(np.ones_like(masks[0]), r_star)
    reference = names[0]
    text = (f"Share of each mask's mass within r* = {r_star:.2f} cycles per image (the radius that halves the "
            f"frequency plane; a mask keeping every frequency alike has {flat:.2f}): {_listed(shares)}. ")
    if ROBUST in shares and ROBUST != reference:
        lower = shares[ROBUST] > shares[reference]
        text += (f"The {ROBUST} network's mask keeps {'more' if lower else 'less'} of its mass at low frequencies "
                 f"than the {reference} network's ({shares[ROBUST]:.2f} against {shares[reference]:.2f}): "
                 + ("the paper's reading of Figure 3." if lower else "against the paper's reading of Figure 3.") + " ")
    most, least = max(kept, key=kept.get), min(kept, key=kept.get)
    return text + (f"The {most} network's mask keeps the most of the spectrum (mean mask value {kept[most]:.2f}), "
                   f"the {least} network's the least ({kept[least]:.2f}).")


# ---------------------------------------------------------------------- Figure 4 (page 04)
def band_takeaway(energies: Mapping) -> str:
    """Under Figure 4: per network, its radial bars summed over the low half of the bands
    minus the high half (``low_minus_high_radial`` of
    :func:`fm_core.science.experiments.band_energy_differences`); positive: relatively
    more of the low frequencies than the reference network."""
    summary, reference = dict(energies["low_minus_high_radial"]), energies["reference"]
    n, half = energies["n_bands"], energies["n_bands"] // 2
    what = "fraction kept" if energies.get("metric", "mean") == "mean" else "band energy"
    lower = [r for r, v in summary.items() if v > 0]
    text = (f"Radial bars ({what} minus the {reference} network's) summed over the low bands 0 to {half - 1}, "
            f"minus those over the high bands {half} to {n - 1}: {_listed(summary, signed=True)}. "
            + (f"Relatively more of the low frequencies than the {reference} network: {', '.join(lower)}."
               if lower else f"No network keeps relatively more of the low frequencies than the {reference} network."))
    if ROBUST in summary:
        text += (f" The {ROBUST} network " + ("is among them, the paper's reading." if summary[ROBUST] > 0 else
                                             "is not, against the paper's reading."))
    return text


# ---------------------------------------------------------------------- Figure 5 (page 05)
def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


def image_masks_takeaway(examples: Mapping) -> str:
    """Under Figure 5: how sparse the single-image masks shown are against the class masks
    (mean mask value), and whether each resembles its own class's mask more than the other
    classes' (correlation of the masks' symmetric parts, what acts on a real image)."""
    masks, labels = symmetric_part(np.asarray(examples["masks"], float)), np.asarray(examples["labels"])
    classes = symmetric_part(np.asarray(examples["class_masks"], float))
    own, other = [], []
    for mask, label in zip(masks, labels):
        own.append(_correlation(mask, classes[label]))
        other.extend(_correlation(mask, c) for k, c in enumerate(classes) if k != label)
    own_mean, other_mean = float(np.nanmean(own)), float(np.nanmean(other))
    single, per_class = float(masks.mean()), float(classes.mean())
    return (f"The {len(masks)} single-image masks shown keep {'less' if single < per_class else 'more'} of the "
            f"spectrum than the class masks (mean mask value {single:.2f} against {per_class:.2f}), and each "
            f"resembles its own class's mask {'more' if own_mean > other_mean else 'no more'} than the other "
            f"classes' (correlation {own_mean:.2f} against {other_mean:.2f} on average): "
            + ("so the masks shown look class-specific." if own_mean > other_mean else
               "so the masks shown do not look class-specific.")
            + " Page 07's Table 3 tests it on every mask.")


# ---------------------------------------------------------------------- Figure 6 (page 06)
def attack_passed(examples: Mapping) -> np.ndarray:
    """Per row of Figure 6, the share of the attack's energy (x_A - x) that the image's mask
    lets through: ||M(x_A) - M(x)||^2 / ||x_A - x||^2 (the mask layer is linear, and by
    Parseval this is :func:`fm_core.science.experiments.attack_energy_kept` of the row)."""
    delta = np.asarray(examples["x_adv"], float) - np.asarray(examples["x"], float)
    passed = np.asarray(examples["filtered_xadv"], float) - np.asarray(examples["filtered_x"], float)
    return (passed ** 2).sum((-2, -1)) / np.maximum((delta ** 2).sum((-2, -1)), 1e-30)


def reversal_examples_takeaway(examples: Mapping) -> str:
    """Under Figure 6: whether M(x_A) looks like M(x) in each row, by the share of the attack
    that the mask lets through, against page 06's line
    (:data:`fm_core.pages.adversarial_reversal.ATTACK_PASSES`)."""
    shares = attack_passed(examples)
    below, n = int((shares < ATTACK_PASSES).sum()), len(shares)
    span = f"{100 * shares.min():.1f}% to {100 * shares.max():.1f}%" if n > 1 else f"{100 * shares[0]:.1f}%"
    text = (f"The images' masks let {span} of the attack's energy (x_A - x) through, per row; less than the "
            f"book's line of {100 * ATTACK_PASSES:g}% in {below} of {n} rows. ")
    if below == n:
        return text + ("So M(x_A) looks like M(x) in every row: the mask removes the attack along with the "
                       "frequencies it drops, and the clean prediction comes back largely by construction.")
    if below == 0:
        return text + "So in no row is M(x_A) close to M(x) by construction: the attack passes the masks."
    return text + ("In those rows M(x_A) looks like M(x) by construction; in the others the attack passes "
                   "the mask.")


# ---------------------------------------------------------------------- Figure 7 (page 06)
def band_preference_takeaway(bands: Mapping, comparison: str) -> str:
    """Under Figure 7: over the low and the high half of the radial bands, the mean % of
    images whose first mask (``comparison``, "first > second") keeps more of a band than the
    second, and less; the first mask leans to low frequencies when its lead (more minus
    less) is larger in the low half than in the high half."""
    first, second = (part.strip() for part in comparison.split(">"))
    radial = {k: np.asarray(bands["radial"][k], float) for k in ("more", "less")}
    n = len(radial["more"])
    half = n // 2
    # whole percentages, as the sentence shows them, so that its lead is their difference
    low = {k: round(float(np.nanmean(v[:half]))) for k, v in radial.items()}
    high = {k: round(float(np.nanmean(v[half:]))) for k, v in radial.items()}
    lean = (low["more"] - low["less"]) - (high["more"] - high["less"])
    return (f"In the low radial bands (0 to {half - 1}) {first} keeps more than {second} for {low['more']:.0f}% of "
            f"the images and less for {low['less']:.0f}% (mean over bands); in the high bands ({half} to {n - 1}) "
            f"more for {high['more']:.0f}% and less for {high['less']:.0f}%. "
            + (f"So {first} leans to the low frequencies compared with {second}" if lean > 0 else
               f"So {first} does not lean to the low frequencies compared with {second}")
            + f" (its lead, more minus less, is {low['more'] - low['less']:+.0f} points in the low bands and "
              f"{high['more'] - high['less']:+.0f} in the high).")


# ---------------------------------------------------------------------- Figure 8 (page 07)
def nearest_same_class(embedding: np.ndarray, labels: np.ndarray) -> tuple[float, float, tuple[int, int] | None]:
    """In a 2-D picture: the share of points whose nearest other point has their class; the
    share expected if classes were scattered at random (the class sizes' chance that another
    point shares one's class); and the pair of classes most often each other's nearest."""
    xy, labels = np.asarray(embedding, float), np.asarray(labels)
    dist = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    nearest = labels[dist.argmin(1)]
    n, counts = len(labels), np.bincount(labels)
    chance = float((counts * (counts - 1)).sum() / (n * (n - 1)))
    mixed: dict[tuple[int, int], int] = {}
    for a, b in zip(labels, nearest):
        if a != b:
            pair = (int(min(a, b)), int(max(a, b)))
            mixed[pair] = mixed.get(pair, 0) + 1
    return float((nearest == labels).mean()), chance, max(mixed, key=mixed.get) if mixed else None


def umap_takeaway(embedding: np.ndarray, labels: np.ndarray, class_names, table3_values: Mapping) -> str:
    """Under Figure 8: how well the classes cluster in the picture (nearest neighbours,
    :func:`nearest_same_class`), and Table 3's verdict
    (:func:`fm_core.pages.mask_classifier.judge_table3`), which the picture does not replace."""
    same, chance, pair = nearest_same_class(embedding, labels)
    verdict = judge_table3(table3_values)
    text = (f"{100 * same:.0f}% of the {len(labels)} masks lie nearest to a mask of their own class in this "
            f"picture ({100 * chance:.0f}% if the classes were scattered at random): the classes "
            + ("cluster" if same > chance else "do not cluster")
            + (f"; the two most often mixed are {class_names[pair[0]]} and {class_names[pair[1]]}." if pair else ".")
            + " UMAP distorts distances, so Table 3's test decides: ")
    return text + ("the masks carry class information." if verdict.carries_class_information else
                   "by it the masks do not carry class information.")


# ---------------------------------------------------------------------- cue scatter (page 10)
def _at(rows: Mapping[str, Mapping], names) -> str:
    """The mean (L-share, L-bias) of ``names``, as the scatter's axes read."""
    return "({:.2f}, {:.2f})".format(*np.mean([(rows[n]["L-share"], rows[n]["L-bias"]) for n in names], axis=0))


def bias_share_takeaway(rows: Mapping[str, Mapping]) -> str:
    """Under page 10's scatter (:func:`fm_core.book.figures.plot_bias_vs_share`): how many
    conditions lie near the diagonal (:data:`fm_core.pages.cue_question.AGREES_WITHIN`), the
    farthest off, where the positive controls lie and whether their masks find their cue
    (:func:`fm_core.pages.cue_question.judge_answer`), and which points are drawn apart."""
    verdict = judge_answer({"rows": rows})
    gap = {n: abs(r["L-share"] - r["L-bias"]) for n, r in rows.items()}
    far = max(gap, key=gap.get)
    text = (f"{len(verdict.agree)} of {len(rows)} conditions lie within {AGREES_WITHIN:g} of the diagonal (mask "
            f"L-share near L-bias, the page's line); farthest off: {far} (L-bias {rows[far]['L-bias']:.2f}, "
            f"L-share {rows[far]['L-share']:.2f}).")
    controls = {cue: rows.get(f"vanilla, trained on {cue} only") for cue in ("L", "H")}
    if verdict.controls_found is not None:
        text += (f" The positive controls (square: trained on L only; triangle: H only) lie at (L-share, L-bias) = "
                 + " and ".join(f"({r['L-share']:.2f}, {r['L-bias']:.2f})" for r in controls.values()) + ": "
                 + ("their masks find the cue each was given." if verdict.controls_found else
                    "their masks miss the cue each was given."))
    groups = coinciding_groups(rows)
    if groups:
        text += (f" Points within {COINCIDE_WITHIN:g} of each other are drawn apart around their true position "
                 "(black dot): " + "; ".join(" and ".join(f"*{n}*" for n in g) + " at " + _at(rows, g) for g in groups)
                 + ".")
    return text

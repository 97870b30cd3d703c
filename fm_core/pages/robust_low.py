"""The paper's direction on real images, seed by seed (pages 04 and 17): does the adversarial
network keep a larger low share in its mask, and prefer low-pass images more, than the
vanilla network? Each seed's gap counts only beyond its sampling line: for behaviour from
the four binomial accuracies it combines, for the mask from masks learned again on the
other half of the images. From :func:`fm_core.pages.real_images.mask_behaviour`'s rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The networks whose masks are learned a second time, on the score half, for the mask gap's
# sampling line (the gap is theirs: adversarial minus vanilla)
GAP_PAIR = ("vanilla", "adversarial")


# The paper's direction, per seed: the adversarial network's mask keeps a larger low share
# than the vanilla network's (by more than this share), and it prefers low-pass images more
# (by more than this many points). The lines are the direction itself: the question is
# which way, and the seeds (every one must agree) stand for the uncertainty
LOWER_BY_MASK, LOWER_BY_BEHAVIOUR = 0.0, 0.0
# ... but a behaviour gap says a direction only beyond its sampling error: it combines four
# accuracies (low- and high-pass at r*, adversarial and vanilla network), each a share of the
# score half's n images with binomial variance p(1 - p) / n, summed as if independent (they
# share the images, which makes the true variance smaller: the line errs towards "within
# noise"). BEHAVIOUR_Z standard errors, about a two-sided 95% line. On 500 images one image is
# 0.2 points, and a gap of a few points is within reach of which images were drawn
# The mask gap gets a line with the same Z from its own sampling error (mask_gap_se)
BEHAVIOUR_Z = 2.0


def behaviour_gap_se(rows: dict, seed) -> float:
    """The sampling standard error (points) of a seed's behaviour gap (adversarial minus
    vanilla low preference), from the four accuracies and the image count its rows carry;
    NaN when they do not (results stored before they did)."""
    cells = [rows[r][str(seed)] for r in ("vanilla", "adversarial")]
    if not all("images" in c for c in cells):
        return float("nan")
    variance = sum((p / 100) * (1 - p / 100) / c["images"] for c in cells for p in (c["low-pass, %"], c["high-pass, %"]))
    return 100 * math.sqrt(variance)


def mask_gap_se(rows: dict, seeds) -> float:
    """The sampling standard error of one seed's mask gap (low share, adversarial minus
    vanilla), pooled over the seeds: each seed's gap is measured twice, by masks learned on
    the fit half and on the score half (other images, the same networks), and two
    independent draws of a quantity with SE s differ by d with E[d^2] = 2 s^2, so s =
    sqrt(mean d^2 / 2) (as many degrees of freedom as seeds: a rough line). NaN when the
    rows carry no second half (results stored before they did)."""
    def gap(s, key):
        return rows["adversarial"][str(s)][key] - rows["vanilla"][str(s)][key]

    cells = [rows[r][str(s)] for r in GAP_PAIR for s in seeds]
    if not seeds or not all("low share, other half" in c for c in cells):
        return float("nan")
    d = [gap(s, "low share") - gap(s, "low share, other half") for s in seeds]
    return math.sqrt(float(np.mean(np.square(d))) / 2)


@dataclass(frozen=True)
class RobustLowVerdict:
    """Does adversarial training move the network to lower frequencies, seed by seed?"""
    mask_gap: tuple[float, ...]       # low share, adversarial minus vanilla, per seed
    by_mask: tuple[bool, ...]         # mask_gap beyond its line (BEHAVIOUR_Z mask SEs, or LOWER_BY_MASK), per seed
    by_mask_all: bool                 # on every seed
    behaviour_gap: tuple[float, ...]  # low preference (points), adversarial minus vanilla, per seed
    by_behaviour: tuple[bool, ...]    # behaviour_gap beyond its line (BEHAVIOUR_Z SEs, or LOWER_BY_BEHAVIOUR), per seed
    by_behaviour_all: bool
    behaviour_se: tuple[float, ...] = ()            # behaviour_gap_se per seed, points (NaN: not measured)
    behaviour_within_noise: tuple[bool, ...] = ()   # |behaviour_gap| within BEHAVIOUR_Z SEs: no direction
    mask_se: float = float("nan")                   # mask_gap_se (pooled over seeds; NaN: not measured)
    mask_within_noise: tuple[bool, ...] = ()        # |mask_gap| within BEHAVIOUR_Z mask SEs: no direction


def judge_robust_low(rows: dict, seeds) -> RobustLowVerdict:
    """From :func:`mask_behaviour`'s rows (``rows[regime][str(seed)]``)."""
    def gaps(key):
        return tuple(rows["adversarial"][str(s)][key] - rows["vanilla"][str(s)][key] for s in seeds)

    mask_gap, behaviour_gap = gaps("low share"), gaps("low preference")
    mask_se = mask_gap_se(rows, seeds)
    mask_line = BEHAVIOUR_Z * mask_se if mask_se == mask_se else LOWER_BY_MASK
    by_mask = tuple(bool(g > mask_line) for g in mask_gap)
    se = tuple(behaviour_gap_se(rows, s) for s in seeds)
    line = tuple(BEHAVIOUR_Z * e if e == e else LOWER_BY_BEHAVIOUR for e in se)
    by_behaviour = tuple(bool(g > l) for g, l in zip(behaviour_gap, line))
    return RobustLowVerdict(mask_gap=mask_gap, by_mask=by_mask, by_mask_all=all(by_mask),
                            behaviour_gap=behaviour_gap, by_behaviour=by_behaviour,
                            by_behaviour_all=all(by_behaviour), behaviour_se=se,
                            behaviour_within_noise=tuple(bool(abs(g) <= l) for g, l in zip(behaviour_gap, line)),
                            mask_se=mask_se,
                            mask_within_noise=tuple(bool(abs(g) <= mask_line) for g in mask_gap)
                            if mask_se == mask_se else ())

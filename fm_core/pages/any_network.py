"""Page 16, Fourier masks for your own network. The page trains a small network written
on the page and masks it through the public face (:class:`fm_core.masks.DatasetMask` with
``set_normalization_used``, any network through :mod:`fm_core.nets.classifier`); its
cross-check masks the store's vanilla network in our wrapper and as a plain module
(:func:`fm_core.store.pipeline.get_network`). What is judged here: whether that network's
mask keeps its accuracy, and which planted cue it finds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fm_core.masks import MaskResult
from fm_core.science.analysis import ground_truth_scores
from .common import result_status
from .dataset_masks import ACCURACY_SLACK
from .ground_truth import RANKS_WELL


@dataclass(frozen=True)
class OwnMaskVerdict:
    cost_points: float            # accuracy lost through the mask on the images it was fitted to
    keeps_accuracy: bool          # cost at most ACCURACY_SLACK (page 04's line)
    auroc: dict                   # cue ("low", "high") -> AUROC of the mask on its planted bins
    finds: tuple                  # the cues whose bins it ranks well (AUROC >= RANKS_WELL, page 08's line)


def judge_own_mask(result: MaskResult, mask: np.ndarray, truth: dict | None = None) -> OwnMaskVerdict:
    """The mask of a network we did not build, judged by the book's lines: ``mask`` is the
    filter an image meets (its symmetric part); ``truth`` the cue world's planted bins."""
    cost = 100 * (result.accuracy_before - result.accuracy_after)
    auroc = {cue: ground_truth_scores(mask, bins)["auroc"] for cue, bins in (truth or {}).items()}
    return OwnMaskVerdict(cost_points=round(cost, 2), keeps_accuracy=cost <= ACCURACY_SLACK, auroc=auroc,
                          finds=tuple(cue for cue, a in auroc.items() if a >= RANKS_WELL))


def convergence_words(result: MaskResult) -> str:
    """Whether the page's mask converged, in a few words (:func:`fm_core.pages.common.judge_mask`
    on its rule, steps and budget; its cost is judged apart, by :func:`judge_own_mask`)."""
    status = result_status(result)
    if not status.at_budget:
        return "converged"
    return ("not converged within the budget" if not status.settled else
            "settled only at the budget's last window, so not converged: its steps ran out")


def own_mask_prose(verdict: OwnMaskVerdict, lam: float) -> str:
    names = {"low": "the low-frequency cue L", "high": "the high-frequency cue H"}
    found = (" It ranks the planted bins of " + " and ".join(names[c] for c in verdict.finds) + " well"
             if verdict.finds else " It ranks neither cue's planted bins well")
    scores = ", ".join(f"AUROC {c[0].upper()} {a:.3f}" for c, a in verdict.auroc.items())
    cues = f"{found} ({scores})." if verdict.auroc else ""  # real images: no planted truth
    if verdict.keeps_accuracy:
        return (f"The mask keeps this network's accuracy (it costs {verdict.cost_points:.1f} points, "
                f"within the book's line of {ACCURACY_SLACK:g} point).{cues}")
    return (f"**The mask does not keep this network's accuracy**: it costs {verdict.cost_points:.1f} points "
            f"on the images it was fitted to, more than the book's line of {ACCURACY_SLACK:g} point, so at "
            f"lambda {lam:g} it is no faithful summary of what this network uses; a smaller lambda trades "
            f"sparsity for accuracy (page 04).{cues}")

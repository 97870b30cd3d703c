"""Figures of how dataset masks are learned: steps to converge against the learning rate,
and the lambda path. Style as :mod:`fm_core.book.figures` (whose helpers these share)."""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from fm_core.pages.common import judge_mask
from .style import FONT, WIDTH


def _converged(converged, steps, budget) -> np.ndarray:
    """Per mask, whether it converged before its budget ran out (a mask whose rule fired only
    at the budget's last window did not: :func:`fm_core.pages.common.judge_mask`)."""
    n = len(converged)
    budgets = budget if isinstance(budget, (list, tuple, np.ndarray)) else [budget] * n
    return np.array([not judge_mask(bool(c), st, b, None).at_budget
                     for c, st, b in zip(converged, steps if steps is not None else [None] * n, budgets)], bool)


def plot_lr_sweep(sweep: Mapping) -> Figure:
    """Steps a dataset mask takes to converge against Adam's learning rate, one line per
    network (:func:`fm_core.pages.dataset_masks.lr_sweep`); hollow markers: not converged
    before the budget ran out (still moving, or settled only at its last window; the budget
    a dashed line when it is near the curves, else named on the axis)."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.6, WIDTH * 0.38))
    budget = None
    for i, (regime, s) in enumerate(sweep.items()):
        colour = plt.get_cmap("tab10")(i)
        lr, steps = np.asarray(s["lr"]), np.asarray(s["steps"])
        ok = _converged(s["converged"], s["steps"], s.get("budget"))
        ax.plot(lr, steps, color=colour, label=regime)
        ax.scatter(lr[ok], steps[ok], color=colour, s=30)
        ax.scatter(lr[~ok], steps[~ok], facecolor="white", edgecolor=colour, s=30)
        budget = s["budget"]
    top = max(max(s["steps"]) for s in sweep.values())
    if budget and budget <= 1.5 * top:
        ax.axhline(budget, color="0.6", ls="--", lw=1, label="budget")
    ax.set_xscale("log")
    schedule = next(iter(sweep.values())).get("schedule")
    ax.set_xlabel("learning rate (Adam" + (", peak of the one-cycle schedule)" if schedule == "one_cycle"
                                          else ", constant after a warm-up)"))
    ax.set_ylabel("steps to converge" + (f" (budget {budget:,})" if budget and budget > 1.5 * top else ""))
    ax.set_ylim(0, 1.15 * (budget if budget and budget <= 1.5 * top else top))
    ax.legend(fontsize=FONT)
    fig.tight_layout()
    return fig


def plot_lambda_path(paths: Mapping) -> Figure:
    """One panel per network: the fraction of L-cue and of H-cue bins kept (mean mask
    value on them) and the masked held-out accuracy against lambda (log scale); hollow
    markers: masks that did not converge before their budget ran out; dashed line: the sparsest mask that keeps 99%
    of the held-out accuracy. Title: the network, its L-bias and the cue that mask keeps
    more of (:func:`fm_core.pages.cue_question.lambda_path`)."""
    names = list(paths)
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.5 * rows), squeeze=False, sharex=True, sharey=True)
    for ax, name in zip(axes.flat, names):
        p = paths[name]
        lams, ok = np.asarray(p["lams"]), _converged(p["converged"], p.get("steps"), p.get("budget"))
        series = (("L kept", np.asarray(p["L kept"]), "tab:blue"), ("H kept", np.asarray(p["H kept"]), "tab:orange"),
                  ("masked accuracy", np.asarray(p["masked, %"]) / 100, "0.3"))
        for label, values, colour in series:
            ax.plot(lams, values, color=colour, label=label, ls=":" if label == "masked accuracy" else "-")
            ax.scatter(lams[ok], values[ok], color=colour, s=14)
            ax.scatter(lams[~ok], values[~ok], facecolor="white", edgecolor=colour, s=14)
        if p.get("sparsest accurate lambda") is not None:
            ax.axvline(p["sparsest accurate lambda"], color="0.6", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"{name}\nL-bias {p['L-bias']:.2f}; keeps more: {p['kept more']}", fontsize=FONT - 1)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("lambda")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", fontsize=FONT, bbox_to_anchor=(0.98, 0.02))
    fig.tight_layout()
    return fig

"""Figures of the cue world: its probe images, the planted cue bins, behaviour against
mask share, and the step budget of a mask. The look is :mod:`.style`'s.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import CUE_COLOURS, FONT, SHIFT_NOTE, WIDTH, _grid, _image, _shift

def plot_probe_samples(probes: Mapping[str, dict], per_set: int = 5) -> Figure:
    """A few images of each probe set, titled with the classes their cues show."""
    names = list(probes)
    fig, axes = _grid(len(names), per_set, height_per_row=1.5)
    for i, name in enumerate(names):
        p = probes[name]
        for j in range(per_set):
            lo, hi = int(p["y_low"][j]), int(p["y_high"][j])
            title = f"L {lo if lo >= 0 else '-'} / H {hi if hi >= 0 else '-'}"
            _image(axes[i, j], np.asarray(p["x"][j]).squeeze(), title, vmin=0, vmax=1)
        axes[i, 0].set_ylabel(name, fontsize=FONT)
        axes[i, 0].axis("on")
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
    fig.tight_layout()
    return fig


def plot_cue_truths(truth: Mapping[str, np.ndarray], radial_bands: np.ndarray) -> Figure:
    """The two cues' bins (all classes) over the radial partition of Figures 4 and 7."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH * 0.75, WIDTH * 0.36))
    im = axes[0].imshow(_shift(np.asarray(radial_bands).argmax(0)), cmap="viridis")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label="radial band")
    axes[0].set_title(f"radial bands {SHIFT_NOTE}", fontsize=FONT)
    code = np.zeros(np.asarray(truth["low"]).shape[-2:])
    code[np.asarray(truth["low"]).any(0)] = 1
    code[np.asarray(truth["high"]).any(0)] = 2
    from matplotlib.colors import ListedColormap
    im = axes[1].imshow(_shift(code), cmap=ListedColormap(["white", CUE_COLOURS["L"], CUE_COLOURS["H"]]),
                        vmin=-0.5, vmax=2.5)
    bar = fig.colorbar(im, ax=axes[1], fraction=0.046, ticks=[0, 1, 2])
    bar.ax.set_yticklabels(["no cue", "L bins", "H bins"])
    axes[1].set_title(f"planted cue bins {SHIFT_NOTE}", fontsize=FONT)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_bias_vs_share(rows: Mapping[str, Mapping]) -> Figure:
    """Behaviour against masks: each condition's L-bias (cue-conflict probes) against its
    dataset mask's L-share; the diagonal is perfect agreement."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.62, WIDTH * 0.5))
    for i, (name, row) in enumerate(rows.items()):
        ax.scatter(row["L-share"], row["L-bias"], s=36, color=plt.get_cmap("tab20")(i % 20), label=name)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("mask's L-share  (mean on L bins / (L + H))")
    ax.set_ylabel("L-bias  (cue-conflict probes)")
    ax.legend(fontsize=FONT, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def plot_step_budget_curve(curve: Mapping) -> Figure:
    """Single-image masks against their step budget (:func:`fm_core.science.experiments.step_budget_curve`):
    the median steps taken, and quality (mean mask value, prediction kept, agreement with
    the largest budget's masks)."""
    budgets = np.asarray(curve["budget"])
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.0))
    axes[0].plot(budgets, curve["median steps"], marker="o", label="median steps taken")
    axes[0].plot(budgets, budgets, color="0.6", ls="--", lw=1, label="budget")
    axes[0].set_xlabel("step budget (max steps = one-cycle length)")
    axes[0].set_ylabel("steps")
    axes[0].legend(fontsize=FONT)
    axes[1].plot(budgets, curve["mean mask value"], marker="o", label="mean mask value")
    axes[1].plot(budgets, np.asarray(curve["prediction kept, %"]) / 100, marker="s", label="prediction kept")
    axes[1].plot(budgets, curve["correlation with the largest budget's masks"], marker="^",
                 label="correlation with the largest budget")
    axes[1].set_xlabel("step budget")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].legend(fontsize=FONT)
    fig.tight_layout()
    return fig

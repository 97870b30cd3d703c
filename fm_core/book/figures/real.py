"""Figures of the paper's claim on real images (:mod:`fm_core.pages.real_images`):
accuracy on low- and high-pass filtered images against the radius, the band ablation, and
the dataset masks' low share against the networks' low preference. The look is :mod:`.style`'s.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from fm_core.profiles import REGIME_LETTERS
from .style import FONT, WIDTH

REGIME_COLOURS = {"vanilla": "tab:blue", "adversarial": "tab:red", "scale": "tab:green",
                  "translate": "tab:purple", "rotate": "tab:brown"}


def _over_seeds(runs: Mapping[str, dict], pick) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD (ddof 1; 0 with one seed) over the seeds of ``pick(run)``."""
    values = np.array([pick(run) for run in runs.values()], dtype=float)
    sd = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1:])
    return values.mean(axis=0), sd


def plot_filtered_accuracy(behaviour: Mapping) -> Figure:
    """Accuracy (%) on low-pass (left) and high-pass (right) filtered images against the
    filter's radius, per regime: the mean over seeds, with their SD as a band.
    ``behaviour``: :func:`fm_core.pages.real_images.behaviour`'s result."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, WIDTH * 0.38), sharey=True)
    r_star = behaviour["inputs"]["median radius"]
    for regime, runs in behaviour["networks"].items():
        radii = np.asarray(next(iter(runs.values()))["radii"], dtype=float)
        for ax, part in zip(axes, ("low", "high")):
            mean, sd = _over_seeds(runs, lambda run: run[part])
            ax.plot(radii, mean, marker="o", ms=3, color=REGIME_COLOURS.get(regime), label=regime)
            ax.fill_between(radii, mean - sd, mean + sd, color=REGIME_COLOURS.get(regime), alpha=0.15)
    for ax, title in zip(axes, ("low-pass: frequencies below the radius kept",
                                "high-pass: frequencies below the radius removed")):
        ax.axvline(r_star, color="grey", ls=":", lw=1)
        ax.set_xlabel("radius (cycles per image)", fontsize=FONT)
        ax.set_title(title, fontsize=FONT)
    axes[0].set_ylabel("accuracy, score half (%)", fontsize=FONT)
    axes[1].legend(fontsize=FONT - 2, frameon=False)
    fig.tight_layout()
    return fig


def plot_band_ablation(behaviour: Mapping) -> Figure:
    """Accuracy lost (points) when one radial band is removed, per band and regime (mean
    over seeds, SD as error bars). ``behaviour``: :func:`fm_core.pages.real_images.behaviour`'s result."""
    regimes = list(behaviour["networks"])
    fig, ax = plt.subplots(figsize=(WIDTH, WIDTH * 0.36))
    width = 0.8 / max(len(regimes), 1)
    for i, regime in enumerate(regimes):
        runs = behaviour["networks"][regime]
        mean, sd = _over_seeds(runs, lambda run: run["band ablation"]["clean"]
                               - np.asarray(run["band ablation"]["removed"], dtype=float))
        bands = np.arange(len(mean))
        ax.bar(bands + (i - (len(regimes) - 1) / 2) * width, mean, width, yerr=sd, capsize=1.5,
               color=REGIME_COLOURS.get(regime), label=regime)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("radial band removed (0: lowest frequencies)", fontsize=FONT)
    ax.set_ylabel("accuracy lost (points)", fontsize=FONT)
    ax.legend(fontsize=FONT - 2, frameon=False, ncol=len(regimes))
    fig.tight_layout()
    return fig


def plot_mask_vs_behaviour(values: Mapping) -> Figure:
    """One point per network (regime x seed): its dataset mask's low share at the median
    radius (x) against its low preference, low-pass minus high-pass accuracy there (y),
    coloured by regime. ``values``: :func:`fm_core.pages.real_images.mask_behaviour`'s result."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.6, WIDTH * 0.45))
    for regime, runs in values["networks"].items():
        share = [run["low share"] for run in runs.values()]
        preference = [run["low preference"] for run in runs.values()]
        ax.scatter(share, preference, s=36, color=REGIME_COLOURS.get(regime),
                   label=f"{REGIME_LETTERS.get(regime, '?')} {regime}")
    ax.axhline(0, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("dataset mask: low share at the median radius", fontsize=FONT)
    ax.set_ylabel("behaviour: low-pass minus high-pass accuracy (points)", fontsize=FONT - 1)
    ax.legend(fontsize=FONT - 2, frameon=False)
    fig.tight_layout()
    return fig


def plot_robust_low_by_seed(answer) -> Figure:
    """The paper's claim on real images, seed by seed: the adversarial network's low-pass
    preference (left, points) and mask low share (right) minus the vanilla network's, one
    bar per network seed; above zero is the paper's direction. ``answer``:
    :class:`fm_core.pages.conclusions.RobustLowAnswer`."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH * 0.75, WIDTH * 0.3))
    seeds = [f"seed {s}" for s in answer.real_seed_names]
    for ax, gaps, title in zip(axes, (answer.real_behaviour_gaps, answer.real_mask_gaps),
                               ("low-pass preference, points", "mask low share")):
        gaps = np.asarray(gaps, dtype=float)
        if title.startswith("low-pass"):
            lines = (np.asarray(answer.real_behaviour_lines, float) if len(answer.real_behaviour_lines) == len(gaps)
                     else np.zeros(len(gaps)))
        else:  # one line for every seed, pooled (NaN: not measured)
            line = answer.real_mask_line
            lines = np.full(len(gaps), line if line == line else 0.0)
        # red: the paper's direction, blue: the other, grey: within the seed's sampling line
        ax.bar(seeds, gaps, color=["tab:red" if g > l else "tab:blue" if g < -l else "tab:grey"
                                   for g, l in zip(gaps, lines)])
        ax.axhline(0, color="black", lw=0.8)
        if lines.any():
            # each seed's sampling line (+-): a bar inside its whiskers shows no direction
            ax.errorbar(seeds, np.zeros(len(gaps)), yerr=lines, fmt="none",
                        ecolor="grey", capsize=6, lw=1.2, label="sampling line")
            ax.legend(fontsize=FONT - 2, loc="upper right")
        ax.set_title(f"adversarial minus vanilla:\n{title}", fontsize=FONT)
        ax.tick_params(labelsize=FONT - 1)
    fig.tight_layout()
    return fig

"""Figures of the book's own pages, past the paper's: the data set (samples, spectra,
overview), training histories, the planted ground truth, and the paper's numbers beside
the build's. The look is :mod:`.style`'s.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fm_core.science import analysis

from .style import FONT, SHIFT_NOTE, TITLE_FONT, WIDTH, _grid, _image, _mask, _shift

def plot_ground_truth(mask: np.ndarray, truth: np.ndarray) -> Figure:
    """A learned mask beside the frequencies planted in the synthetic data, and the ROC
    curve of mask values ranking planted bins first."""
    truth = np.asarray(truth, dtype=bool)
    union = truth.any(axis=0) if truth.ndim == 3 else truth
    scores = analysis.ground_truth_scores(mask, union)
    fpr, tpr = analysis.ground_truth_roc(mask, union)
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.0))
    _mask(axes[0], mask, f"learned mask {SHIFT_NOTE}", colorbar=True)
    _image(axes[1], _shift(union), f"planted frequencies {SHIFT_NOTE}", "Greys", 0, 1)
    axes[2].plot(fpr, tpr, color="tab:red")
    axes[2].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[2].set_xlabel("false-positive rate")
    axes[2].set_ylabel("true-positive rate")
    axes[2].set_title(f"AUROC {scores['auroc']:.3f}, precision@{scores['k']} "
                      f"{scores['precision_at_k']:.2f}", fontsize=FONT)
    axes[2].set_aspect("equal")
    fig.tight_layout()
    return fig


def plot_samples(x: np.ndarray, y: np.ndarray, class_names: Sequence[str], n_per_class: int = 6) -> Figure:
    """A grid of example images, one row per class."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 4:
        x = x[:, 0]
    fig, axes = _grid(len(class_names), n_per_class, height_per_row=WIDTH / n_per_class)
    for c, name in enumerate(class_names):
        members = np.flatnonzero(y == c)[:n_per_class]
        for j, ax in enumerate(axes[c]):
            if j < len(members):
                _image(ax, x[members[j]], vmin=0, vmax=1)
            else:
                ax.axis("off")
        axes[c, 0].set_ylabel(name, fontsize=FONT)
    fig.tight_layout()
    return fig


def plot_power_spectrum(mean_power: np.ndarray, title: str = "mean power spectrum") -> Figure:
    """A (mean) power spectrum on a log colour scale, fftshifted."""
    power = _shift(np.asarray(mean_power, dtype=float))
    positive = power[power > 0]
    floor = positive.min() if positive.size else 1.0
    fig, ax = plt.subplots(figsize=(WIDTH * 0.5, WIDTH * 0.42))
    im = ax.imshow(np.maximum(power, floor), cmap="magma", norm=LogNorm(), interpolation="nearest")
    fig.colorbar(im, ax=ax, label="power (log scale)")
    ax.set_title(f"{title} {SHIFT_NOTE}", fontsize=FONT)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_training_history(history: Mapping[str, Sequence[float]]) -> Figure:
    """Curves per epoch: keys containing 'loss' share a panel, keys containing 'acc'
    share another, every other key (lr, sparsity, invariance, ...) gets its own."""
    panels: dict[str, list] = {}
    for key, values in history.items():
        if np.ndim(values) != 1 or len(values) == 0:
            continue
        panel = "loss" if "loss" in key else "accuracy" if "acc" in key else key
        panels.setdefault(panel, []).append((key, values))
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(WIDTH, 3.0), squeeze=False)
    for ax, (panel, curves) in zip(axes[0], panels.items()):
        for key, values in curves:
            ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(panel)
        if len(curves) > 1:
            ax.legend(fontsize=FONT)
    fig.tight_layout()
    return fig


def plot_dataset_overview(dataset, n_per_class: int = 6) -> Figure:
    """A data set at a glance (``fm data --show``): example images per class, the mean
    power spectrum of the validation images and, for the synthetic data, the planted
    texture frequencies. ``dataset`` is an :class:`fm_core.data.Dataset`."""
    x = dataset.x_val.numpy()[:, 0]
    y = dataset.y_val.numpy()
    names = dataset.class_names
    truth = dataset.ground_truth
    power = analysis.mean_power_spectrum(x, y, n_classes=len(names))
    cols = n_per_class + 1 + (truth is not None)
    fig, axes = _grid(len(names), cols, height_per_row=WIDTH / cols)
    for c, name in enumerate(names):
        members = np.flatnonzero(y == c)[:n_per_class]
        for j in range(n_per_class):
            if j < len(members):
                _image(axes[c, j], x[members[j]], vmin=0, vmax=1)
            else:
                axes[c, j].axis("off")
        axes[c, 0].set_ylabel(name, fontsize=FONT)
        _image(axes[c, n_per_class], np.log10(_shift(power[c]) + 1e-12),
               "log10 power" if c == 0 else "", "magma", colorbar=True)
        if truth is not None:
            _image(axes[c, -1], _shift(truth[c]), "planted" if c == 0 else "", "Greys", 0, 1,
                   colorbar=True)
    fig.suptitle(f"{dataset.describe()}; spectra {SHIFT_NOTE}", fontsize=TITLE_FONT)
    fig.tight_layout()
    return fig


def plot_paper_vs_build(rows) -> Figure:
    """The reproduction page at a glance: each reported percentage (x) against this
    build's (y), one colour per table, with the line of equality.

    ``rows``: (artefact, quantity, paper, this build) as from :func:`fm_core.pages.reproduction.reproduction`."""
    rows = [r for r in rows if "%" in r[1]]
    fig, ax = plt.subplots(figsize=(WIDTH * 0.55, WIDTH * 0.5))
    for artefact in dict.fromkeys(r[0] for r in rows):
        group = [r for r in rows if r[0] == artefact]
        ax.scatter([float(r[2]) for r in group], [float(r[3]) for r in group], label=artefact, s=30)
    ax.plot([0, 100], [0, 100], color="0.6", lw=1, ls="--", label="equal")
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("paper (reported), %")
    ax.set_ylabel("this build, %")
    ax.legend(fontsize=FONT, loc="lower right")
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig

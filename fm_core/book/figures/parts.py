"""Figures of amplitude and phase masks (page 15): what removing each part does to an
image, and the learned masks over the planted cue bins. The look is :mod:`.style`'s."""
from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from .style import CUE_COLOURS, FONT, SHIFT_NOTE, _grid, _image, _mask, _shift


def plot_part_removal(images: Mapping[str, np.ndarray]) -> Figure:
    """One image as it is and with one part of its spectrum removed everywhere
    (``{"image": ..., "amplitude removed": ..., "phase removed": ...}``, pixel units)."""
    fig, axes = _grid(1, len(images), height_per_row=2.4)
    for ax, (title, img) in zip(axes[0], images.items()):
        _image(ax, np.asarray(img).squeeze(), title, vmin=0, vmax=1)
    fig.tight_layout()
    return fig


def plot_part_masks(masks: Mapping[str, np.ndarray], truth_low: np.ndarray, truth_high: np.ndarray) -> Figure:
    """Masks side by side, centred, with the L bins (outlined in the L colour) and the H
    bins (in the H colour) marked."""
    fig, axes = _grid(1, len(masks), height_per_row=2.6)
    low, high = (_shift(np.asarray(t).reshape(-1, *np.asarray(t).shape[-2:]).any(0)) for t in (truth_low, truth_high))
    for ax, (title, m) in zip(axes[0], masks.items()):
        _mask(ax, np.asarray(m), title)
        for bins, cue in ((low, "L"), (high, "H")):
            ys, xs = np.nonzero(bins)
            ax.scatter(xs, ys, s=30, facecolors="none", edgecolors=CUE_COLOURS[cue], linewidths=1.0,
                       label=f"{cue} bins")
    axes[0, 0].legend(fontsize=FONT, loc="lower left", bbox_to_anchor=(0, -0.32), ncol=2, frameon=False)
    fig.suptitle(f"dataset masks {SHIFT_NOTE}", fontsize=FONT)
    fig.tight_layout()
    return fig

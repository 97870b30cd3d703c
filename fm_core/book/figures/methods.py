"""Figures of the peer-methods page, in the style of :mod:`fm_core.book.figures` (maps fftshifted
with DC in the centre, colour map 'turbo' on [0, 1], ~9 in wide). Each map is shown as
:func:`fm_core.methods.faithfulness.scaled` makes it (negatives as 0, divided by the maximum), so
maps of different units share one colour scale."""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from fm_core.methods.faithfulness import scaled
from fm_core.methods.peers import METHOD_TITLES
from fm_core.fourier import symmetric_part

WIDTH = 9.0
MASK_CMAP = "turbo"
# hollow outlines around the cue bins, so the map's value in each bin stays visible
CUE_MARKS = {"low": ("s", "white", "L cue"), "high": ("o", "magenta", "H cue")}


def plot_method_maps(networks: Mapping[str, Mapping], truth: Mapping | None = None) -> Figure:
    """Rows: networks; columns: methods. ``networks[regime]["maps"][method]`` is a
    FrequencyMap. The cue bins (``truth``: {"low", "high"} (C, H, W) bool) are marked."""
    regimes = list(networks)
    names = list(next(iter(networks.values()))["maps"])
    fig, axes = plt.subplots(len(regimes), len(names), figsize=(WIDTH, WIDTH / len(names) * len(regimes)),
                             squeeze=False)
    for r, regime in enumerate(regimes):
        for c, name in enumerate(names):
            ax = axes[r, c]
            values = scaled(symmetric_part(np.asarray(networks[regime]["maps"][name].values, dtype=float)))
            h, w = values.shape
            image = ax.imshow(np.fft.fftshift(values), cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
            if truth is not None:
                for cue, (marker, colour, label) in CUE_MARKS.items():
                    iy, ix = np.nonzero(np.fft.fftshift(np.asarray(truth[cue]).reshape(-1, h, w).any(0)))
                    ax.scatter(ix, iy, marker=marker, s=22, facecolors="none", edgecolors=colour,
                               linewidths=0.7, label=label)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{METHOD_TITLES.get(name, name)}\n(DC centred)", fontsize=9)
            if c == 0:
                ax.set_ylabel(regime, fontsize=9)
    if truth is not None:
        axes[0, -1].legend(loc="upper right", fontsize=7, framealpha=0.6)
    fig.tight_layout()
    fig.colorbar(image, ax=axes, fraction=0.025, pad=0.02, label="map value, scaled to [0, 1]")
    return fig


def plot_frequency_curves(networks: Mapping[str, Mapping]) -> Figure:
    """Deletion (top) and insertion (bottom) accuracy against k, the number of frequency
    pairs removed or kept (log axis), one column per network, one line per ranking."""
    regimes = list(networks)
    fig, axes = plt.subplots(2, len(regimes), figsize=(WIDTH, 5.2), squeeze=False, sharex=True, sharey=True)
    for c, regime in enumerate(regimes):
        for name, curve in networks[regime]["curves"].items():
            style = dict(color="grey", linestyle="--") if name == "random" else {}
            for r, which in enumerate(("deletion", "insertion")):
                axes[r, c].plot(curve["k"], curve[f"{which} accuracy"], marker=".", label=METHOD_TITLES.get(name, name),
                                **style)
        axes[0, c].set_title(regime, fontsize=9)
        for r, which in enumerate(("deletion: top k removed", "insertion: only top k kept")):
            axes[r, c].set_xscale("log")
            axes[r, c].set_ylim(0, 1.02)
            axes[r, c].grid(alpha=0.3)
            if c == 0:
                axes[r, c].set_ylabel(f"accuracy\n({which})", fontsize=9)
        axes[1, c].set_xlabel("k (frequency pairs)", fontsize=9)
    axes[0, -1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig

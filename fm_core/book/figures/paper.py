"""The paper's figures (Karantzas et al. 2022, Figures 1 to 8): each function takes
arrays or results and returns a Figure. Computation lives in
:mod:`fm_core.science.experiments` and :mod:`fm_core.science.analysis`; here are only
layout and display transforms such as log spectra; the look is :mod:`.style`'s.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fm_core.science import analysis

from .style import (CUE_COLOURS, DIFF_CMAP, FONT, IMAGE_CMAP, MASK_CMAP, SHIFT_NOTE, TITLE_FONT, WIDTH, _grid, _image,
                    _mask, _shift)

# ------------------------------------------------------------------------- Figure 1

def plot_activation_spectra(spectra: Mapping[str, tuple], intermodulation: tuple,
                            max_harmonic: float = 8.0) -> Figure:
    """Figure 1: amplitude spectra of sin(t) and of act(sin(t)) ("blue shift"), plus a
    panel with the intermodulation example (cos w1 t + cos w2 t)^2.

    ``spectra`` as from :func:`analysis.activation_spectra`; ``intermodulation`` as from
    :func:`analysis.intermodulation_spectrum`."""
    names = ["input"] + [n for n in spectra if n != "input"]
    fig, axes = _grid(2, (len(names) + 2) // 2, height_per_row=2.4)
    flat = axes.ravel()
    for ax, name, letter in zip(flat, names, "ABCDEFGHIJ"):
        freqs, amps = spectra[name]
        keep = freqs <= max_harmonic
        ax.stem(freqs[keep], amps[keep], basefmt=" ", markerfmt=".")
        label = "sin(t)" if name == "input" else f"{name}(sin(t))"
        if name == "hardtanh":
            label += f", clipped at ±{analysis.HARDTANH_LIMIT}"
        ax.set_title(f"({letter}) {label}", fontsize=FONT)
        ax.set_xlabel("frequency / input frequency", fontsize=FONT)
        ax.set_ylabel("amplitude", fontsize=FONT)
    ax = flat[len(names)]
    freqs, amps = intermodulation
    keep = amps > 1e-3 * amps.max()
    last = freqs[keep].max() * 1.2
    ax.stem(freqs[freqs <= last], amps[freqs <= last], basefmt=" ", markerfmt=".")
    ax.set_title(f"({'ABCDEFGHIJ'[len(names)]}) intermodulation: (cos w1t + cos w2t)²\n"
                 "peaks at 0, w2−w1, 2w1, w1+w2, 2w2", fontsize=FONT)
    ax.set_xlabel("cycles per window", fontsize=FONT)
    for extra in flat[len(names) + 1:]:
        extra.axis("off")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- Figure 2

def plot_mask_layer_schematic(image: np.ndarray, mask: np.ndarray, filtered: np.ndarray) -> Figure:
    """Figure 2: the mask layer, x -> FFT2 x -> M ⊙ FFT2 x -> x̄ = Re IFFT2(M ⊙ FFT2 x)."""
    panels = [
        (image, "input x", IMAGE_CMAP, None),
        (_shift(analysis.log_amplitude_spectrum(image)), f"log(1+|FFT2 x|)\n{SHIFT_NOTE}", "magma", None),
        (_shift(mask), f"mask M\n{SHIFT_NOTE}", MASK_CMAP, (0, 1)),
        (_shift(analysis.log_amplitude_spectrum(image, mask)), f"log(1+|M ⊙ FFT2 x|)\n{SHIFT_NOTE}",
         "magma", None),
        (filtered, "x̄ = Re IFFT2(M ⊙ FFT2 x)", IMAGE_CMAP, None),
    ]
    fig, axes = _grid(1, len(panels), height_per_row=2.4)
    for ax, (img, title, cmap, lim) in zip(axes[0], panels):
        _image(ax, img, title, cmap, *(lim or (None, None)))
    fig.subplots_adjust(left=0.02, right=0.98, wspace=0.5)
    # In the gap left of each panel: an arrow for a transform, a symbol for an operation.
    for right, step in zip(axes[0][1:], ["FFT2", "⊙", "=", "IFFT2"]):
        if step in ("FFT2", "IFFT2"):
            right.annotate("", xy=(-0.05, 0.5), xytext=(-0.45, 0.5), xycoords="axes fraction",
                           arrowprops=dict(arrowstyle="->", lw=1.2))
            right.text(-0.25, 0.55, step, transform=right.transAxes, ha="center", va="bottom", fontsize=FONT)
        else:
            right.text(-0.25, 0.5, step, transform=right.transAxes, ha="center", va="center", fontsize=16)
    return fig


# ------------------------------------------------------------------------- Figure 3

def plot_dataset_masks(figure3: Mapping) -> Figure:
    """Figure 3: dataset masks (top row) and each mask minus the first one (bottom row),
    as computed by :func:`fm_core.science.experiments.figure3`."""
    names, stack, diffs = list(figure3["names"]), figure3["masks"], figure3["differences"]
    letters = "ABCDEFGHIJ"
    fig, axes = _grid(2, len(names), height_per_row=WIDTH / len(names) * 0.95)
    for j, name in enumerate(names):
        im = _mask(axes[0, j], stack[j], f"({letters[j]}) {name}")
    fig.colorbar(im, ax=axes[0, :].tolist(), fraction=0.02, pad=0.01, label="mask value")
    axes[1, 0].axis("off")
    axes[1, 0].text(0.5, 0.5, f"differences\nminus ({letters[0]})\n{SHIFT_NOTE}",
                    ha="center", va="center", fontsize=FONT, transform=axes[1, 0].transAxes)
    for j in range(1, len(names)):
        im = _image(axes[1, j], _shift(diffs[j - 1]), f"({letters[j]}-{letters[0]})",
                    DIFF_CMAP, -0.5, 0.5)
    fig.colorbar(im, ax=axes[1, :].tolist(), fraction=0.02, pad=0.01, label="normalised difference")
    fig.suptitle(f"Dataset masks {SHIFT_NOTE}", fontsize=TITLE_FONT)
    return fig


# ------------------------------------------------------------------------- Figure 4


def _mark_cue_bands(ax, cue_bands) -> None:
    """Shade the radial bands that hold each planted cue (the cue world's truths)."""
    for cue, indices in (cue_bands or {}).items():
        for k, i in enumerate(indices):
            ax.axvspan(i - 0.5, i + 0.5, color=CUE_COLOURS.get(cue, "0.8"), alpha=0.18, lw=0,
                       label=f"{cue} cue" if k == 0 else None)
    if cue_bands:
        ax.legend(fontsize=FONT, loc="upper right")



def _bars(ax, values, xlabel, title):
    values = np.asarray(values)
    colors = np.where(values >= 0, "tab:red", "tab:blue")
    ax.bar(np.arange(len(values)), values, color=colors, width=0.9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.set_title(title, fontsize=FONT)
    ax.tick_params(labelsize=7)


def plot_band_partitions_and_energies(energies: Mapping) -> Figure:
    """Figure 4: the radial and angular partitions (top) and, for each mask, its band
    energies minus those of the reference (vanilla) mask: radial (middle row), angular
    (bottom row), as computed by :func:`fm_core.science.experiments.band_energy_differences`.
    Red bars: more energy than the vanilla mask; blue: less."""
    names = [energies["reference"]] + list(energies["regimes"])
    n_bands = energies["n_bands"]
    radial, angular = energies["radial_bands"], energies["angular_bands"]
    radial_diff, angular_diff = energies["radial"], energies["angular"]
    cols = max(len(names) - 1, 2)
    fig = plt.figure(figsize=(WIDTH, 2.6 + 2 * 2.0))
    grid = fig.add_gridspec(3, cols, height_ratios=[1.3, 1, 1])
    partitions = [(radial, "radial bands", "viridis"), (angular, "angular bands", "twilight")]
    for j, (bands, title, cmap) in enumerate(partitions):
        ax = fig.add_subplot(grid[0, j * cols // 2:(j + 1) * cols // 2])
        _image(ax, _shift(bands.argmax(0)), f"{title} {SHIFT_NOTE}", cmap, colorbar=True)
    lim_r = np.abs(radial_diff).max() or 1.0
    lim_a = np.abs(angular_diff).max() or 1.0
    what = "fraction kept" if energies.get("metric", "mean") == "mean" else "band energy"
    for j in range(len(names) - 1):
        label = f"{names[j + 1]} − {names[0]}"
        ax = fig.add_subplot(grid[1, j])
        _bars(ax, radial_diff[j], "radial band (0 = DC)", f"{label}: radial")
        _mark_cue_bands(ax, energies.get("cue_bands", {}))
        ax.set_ylim(-lim_r * 1.1, lim_r * 1.1)
        if j == 0:
            ax.set_ylabel(f"Δ {what}", fontsize=FONT)
        ax = fig.add_subplot(grid[2, j])
        _bars(ax, angular_diff[j], f"angular band ({180 / n_bands:.3g}° each)", f"{label}: angular")
        ax.set_ylim(-lim_a * 1.1, lim_a * 1.1)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- Figure 5

def plot_image_mask_grid(images, masks, labels, class_masks, class_names,
                         complement_filtered, mask_filtered, n_per_class: int = 5) -> Figure:
    """Figure 5: per class a row, the class-level mask first, then single-image masks of
    that class; below, under the first class's masks, its images, the images filtered
    by their complementary masks and the images filtered by their masks.

    ``images``, ``masks``, ``complement_filtered``, ``mask_filtered``: (N, H, W) aligned
    with ``labels`` (N,); ``class_masks``: (C, H, W)."""
    labels = np.asarray(labels)
    cols = n_per_class + 1
    n_classes = len(class_names)
    fig, axes = _grid(n_classes + 3, cols, height_per_row=WIDTH / cols * 0.9)
    for c, name in enumerate(class_names):
        row = axes[c]
        _mask(row[0], class_masks[c], "class mask" if c == 0 else "")
        row[0].set_ylabel(name, fontsize=FONT)
        members = np.flatnonzero(labels == c)[:n_per_class]
        for j, ax in enumerate(row[1:]):
            if j < len(members):
                _mask(ax, masks[members[j]], "single-image masks →" if c == j == 0 else "")
            else:
                ax.axis("off")
    # below the first class's masks, in the same columns: its images, filtered
    mapped = next((ax.images[0] for ax in axes[:n_classes].ravel() if ax.images), None)
    first = np.flatnonzero(labels == 0)[:n_per_class]
    for r, (stack, name) in enumerate([(images, "x"), (complement_filtered, "Mc(x)"),
                                       (mask_filtered, "M(x)")]):
        row = axes[n_classes + r]
        row[0].axis("off")
        row[0].text(0.95, 0.5, f"{class_names[0]}:\n{name}", ha="right", va="center",
                    fontsize=FONT, transform=row[0].transAxes)
        for j, ax in enumerate(row[1:]):
            if j < len(first):
                _image(ax, stack[first[j]])
            else:
                ax.axis("off")
    fig.suptitle(f"Masks {SHIFT_NOTE}, by class; images filtered by complements and masks", fontsize=TITLE_FONT)
    fig.tight_layout()
    if mapped is not None:
        fig.colorbar(mapped, ax=axes[:n_classes].ravel().tolist(), fraction=0.025, pad=0.01, label="mask value")
    return fig


# ------------------------------------------------------------------------- Figure 6

def plot_reversal_examples(x, x_adv, mask, filtered_x, filtered_xadv, complement,
                           complement_filtered, titles: Sequence[str] | None = None) -> Figure:
    """Figure 6: one row per example: x, x_A, M_N,x, M_N,x(x), M_N,x(x_A), Mc_N,x,
    Mc_N,x(x). Each argument is (E, H, W); ``titles`` label the rows (e.g. classes)."""
    columns = [(x, "x", "image"), (x_adv, "x_A", "image"), (mask, f"M {SHIFT_NOTE}", "mask"),
               (filtered_x, "M(x)", "image"), (filtered_xadv, "M(x_A)", "image"),
               (complement, f"Mc {SHIFT_NOTE}", "complement"),
               (complement_filtered, "Mc(x)", "image")]
    n = len(x)
    fig, axes = _grid(n, len(columns), height_per_row=WIDTH / len(columns) * 1.05)
    for i in range(n):
        for j, (stack, title, kind) in enumerate(columns):
            ax = axes[i, j]
            head = title if i == 0 else ""
            if kind == "mask":
                _mask(ax, stack[i], head)
            elif kind == "complement":
                _image(ax, _shift(stack[i]), head, IMAGE_CMAP, 0, 1)
            else:
                _image(ax, stack[i], head)
        if titles is not None:
            axes[i, 0].set_ylabel(titles[i], fontsize=FONT)
    fig.tight_layout()
    mask_columns = [j for j, (_, _, kind) in enumerate(columns) if kind in ("mask", "complement")]
    for j in mask_columns:  # one colour bar under each mask column (values in [0, 1])
        fig.colorbar(axes[-1, j].images[0], ax=axes[:, j].tolist(), orientation="horizontal",
                     fraction=0.03, pad=0.02, label="mask value" if j == mask_columns[0] else "complement")
    return fig


# ------------------------------------------------------------------------- Figure 7

def plot_band_preference(radial: Mapping, angular: Mapping, comparison: str = "M_A,x > M_N,x",
                         cue_bands=None, metric: str = "mean") -> Figure:
    """Figure 7: per band, the % of images whose first mask (``comparison``, "first >
    second") keeps more than the second, the same (grey) or less, stacked to 100%;
    dashed line at 50%. ``radial``/``angular``: {"more", "equal", "less"} arrays."""
    first, second = (part.strip() for part in comparison.split(">"))
    what = "keeps more" if metric == "mean" else "has more energy"
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    for ax, parts, name in zip(axes, (radial, angular), ("(A) radial", "(B) angular")):
        more, equal = np.asarray(parts["more"], float), np.asarray(parts["equal"], float)
        less = np.asarray(parts["less"], float)
        idx = np.flatnonzero(np.isfinite(more))  # NaN: a band without frequency bins
        ax.bar(idx, more[idx], color="tab:purple", width=0.9, label=f"{first} {what}")
        ax.bar(idx, equal[idx], bottom=more[idx], color="0.8", width=0.9, label="equal")
        ax.bar(idx, less[idx], bottom=more[idx] + equal[idx], color="tab:cyan", width=0.9,
               label=f"{second} {what}")
        if "radial" in name:
            _mark_cue_bands(ax, cue_bands)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axhline(50, color="k", ls="--", lw=1)
        ax.set_ylim(0, 100)
        ax.set_xlabel(f"{name.split()[1]} band" + (" (0 = DC)" if "radial" in name else ""))
        ax.set_ylabel("% of images", fontsize=FONT)
        ax.set_title(name, fontsize=FONT)
    axes[1].legend(fontsize=FONT, loc="lower right")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- Figure 8

def plot_umap(embedding: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Figure 8: UMAP of the mask classifier's held-out outputs, one colour per class."""
    embedding, labels = np.asarray(embedding), np.asarray(labels)
    fig, ax = plt.subplots(figsize=(WIDTH * 0.6, WIDTH * 0.5))
    colors = plt.get_cmap("tab10")
    for c, name in enumerate(class_names):
        pts = embedding[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=8, color=colors(c % 10), label=name, alpha=0.8)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_title("UMAP of the linear classifier's held-out outputs on single-image masks", fontsize=FONT)
    ax.legend(fontsize=FONT, markerscale=2, loc="best")
    fig.tight_layout()
    return fig

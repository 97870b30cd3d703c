"""Figures of the book: each function takes arrays or results and returns a Figure.

Computation lives in :mod:`fm_core.science.experiments` and :mod:`fm_core.science.analysis`; here are
only layout and style (and display transforms such as log spectra). Masks
are stored unshifted (DC at [0, 0]) and are fftshifted for display (DC in the centre),
which every mask panel's title notes. Masks use the colour map 'turbo' on [0, 1];
signed differences use the diverging 'coolwarm'. Figures are sized for a ~9 in page.
Nothing calls ``plt.show()``: close figures with ``plt.close(fig)`` when done.

Size: one drawing function per figure of the paper and per data page, sharing the small
helpers at the top (panels, colour maps, the DC-centred view); split by figure, each
module would hold one function and a copy of the helpers.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fm_core.science import analysis

WIDTH = 9.0  # inches: book width
MASK_CMAP = "turbo"
DIFF_CMAP = "coolwarm"
IMAGE_CMAP = "gray"
SHIFT_NOTE = "(DC centred)"
# Figures are WIDTH inches at DPI and shown in a column about 800 px wide, i.e. scaled by
# about 0.6 (800 px / 1350 px) on a screen's 96 px per inch: 10 pt text reads as 9 pt.
DPI = 150
FONT = 10
TITLE_FONT = 11


def _use_book_style() -> None:
    """Resolution and type sizes of every figure drawn after this module is imported
    (Jupyter's inline backend saves figures at the figure's own dpi)."""
    plt.rcParams.update({
        "figure.dpi": DPI, "savefig.dpi": DPI, "font.size": FONT, "axes.titlesize": FONT,
        "axes.labelsize": FONT, "xtick.labelsize": FONT, "ytick.labelsize": FONT,
        "legend.fontsize": FONT, "figure.titlesize": TITLE_FONT,
    })


_use_book_style()


def _shift(mask: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.asarray(mask), axes=(-2, -1))


def _image(ax, img, title="", cmap=IMAGE_CMAP, vmin=None, vmax=None, colorbar=False):
    """Draw one image panel without ticks; returns the AxesImage."""
    im = ax.imshow(np.asarray(img).squeeze(), cmap=cmap, vmin=vmin, vmax=vmax,
                   interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=FONT)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def _mask(ax, mask, title="", colorbar=False):
    """A mask panel: fftshifted, turbo on [0, 1]."""
    return _image(ax, _shift(mask), title, MASK_CMAP, 0.0, 1.0, colorbar)


def _grid(rows: int, cols: int, height_per_row: float | None = None):
    height = (height_per_row or WIDTH / max(cols, 1)) * rows
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, height), squeeze=False)
    return fig, axes


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
CUE_COLOURS = {"L": "tab:green", "H": "tab:orange"}


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


# ---------------------------------------------------------------- other book figures

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

    ``rows``: (artefact, quantity, paper, this build) as from :func:`fm_core.store.results.reproduction`."""
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


# ------------------------------------------------------------------ the cue world
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

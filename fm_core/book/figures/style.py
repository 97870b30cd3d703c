"""The look every figure of the book shares: page width, resolution and type sizes (set
when this module is imported), colour maps, and the panels that show an image or a mask.

Masks are stored unshifted (DC at [0, 0]) and are fftshifted for display (DC in the
centre), which every mask panel's title notes. Masks use the colour map 'turbo' on
[0, 1]; signed differences use the diverging 'coolwarm'. Figures are sized for a ~9 in
page. Nothing calls ``plt.show()``: close figures with ``plt.close(fig)`` when done.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

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
CUE_COLOURS = {"L": "tab:green", "H": "tab:orange"}


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

"""Behaviour on filtered images: what a network does when only the low or only the high
frequencies of an image are left, or when one ring of frequencies is taken away. These
read-outs need no mask and no planted truth, so they judge the paper's claim (robust
networks use lower frequencies) on real images.

- :func:`low_pass`, :func:`high_pass`: ideal radial filters of images (N, C, H, W) in
  [0, 1], after Yin et al. (2019), "A Fourier perspective on model robustness in computer
  vision" (NeurIPS). They filter with a centred B x B square of the shifted spectrum
  (an L-inf ball in frequency) and their high-pass zeroes that square, DC included; here
  the same filters over *rings* (the L2 radius |k|), so that they line up with the radial
  bands and profiles of :mod:`fm_core.science.analysis`. DC belongs to the low-pass
  image and the high-pass image has none (its mean is 0), as in Yin et al.
- :func:`median_radius`, :func:`low_share`: where "low" ends, fixed by the grid alone, and
  the share of a mask's mass below it (to hold a mask against behaviour);
- :func:`filtered_accuracy`: accuracy on low- and high-pass images against the radius.
- :func:`band_ablation`: accuracy with one radial band removed, one pass per band: the
  ring ablation of Abello et al. (2021), "Dissecting the high-frequency bias in
  convolutional neural networks" (CVPR workshops). :class:`fm_core.methods.FrequencyAblation`
  (Wang et al. 2023) removes one frequency *pair* (k, -k) at a time; a band here removes
  all pairs of a ring at once, so it sees what a network loses when a whole scale is
  gone, which single pairs (each nearly redundant) can miss.

Frequencies are in cycles per image, as :func:`fm_core.science.analysis.frequency_grid`
gives them: bin (i, j) of the unshifted FFT has ``k = (fftfreq(H)[i] * H, fftfreq(W)[j] * W)``
and radius ``|k|``. The filtered image is the real part of the inverse FFT, not clipped
to [0, 1] (clipping would put back frequencies the filter removed); the network sees it
as it is. Accuracies are percentages (:func:`fm_core.science.experiments.pct`'s convention).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from fm_core.fourier import symmetric_part
from fm_core.nets.evaluation import accuracy
from .analysis import radial_bands
from .experiments import pct

# A bin lies on the low side of a radius when |k| <= radius + this: a bin exactly on a band
# edge (|k|^2 a whole number, the edge a float) is not lost to rounding
RADIUS_TOLERANCE = 1e-9


def frequency_radius(height: int, width: int) -> np.ndarray:
    """|k| of every bin of an unshifted height x width FFT, in cycles per image (the radius
    of :func:`fm_core.science.analysis.frequency_grid` on square grids)."""
    ky = np.fft.fftfreq(height) * height
    kx = np.fft.fftfreq(width) * width
    return np.hypot(*np.meshgrid(ky, kx, indexing="ij"))


def low_pass_mask(height: int, width: int, radius: float) -> np.ndarray:
    """(H, W) bool: the bins with |k| <= ``radius`` (DC always among them). Symmetric under
    k -> -k, so the filtered image of a real image is real."""
    return frequency_radius(height, width) <= radius + RADIUS_TOLERANCE


def median_radius(size: int) -> float:
    """The radius that splits the size x size frequency plane's bins into two halves of
    equal count (the median of the bins' |k|; with ties at the median, the low side holds
    the tied bins). Where "low" ends when a mask's share and a network's preference are
    compared (:func:`low_share`; :mod:`fm_core.pages.real_images`): a rule fixed by the
    grid alone, before any result, so that no radius is chosen for the answer it gives."""
    return float(np.median(frequency_radius(size, size)))


def low_share(mask: np.ndarray, radius: float) -> float:
    """The share of a mask's mass at |k| <= ``radius``: sum of its symmetric part (the
    filter a mask applies to real images, :func:`fm_core.fourier.symmetric_part`) there over
    its sum everywhere; NaN for an all-zero mask. A mask that keeps every bin alike has the
    share of bins on the low side (one half at :func:`median_radius`)."""
    sym = symmetric_part(np.asarray(mask, dtype=float))
    total = float(sym.sum())
    if total <= 0:
        return float("nan")
    return float(sym[low_pass_mask(*sym.shape[-2:], radius)].sum()) / total


def _filtered(x: torch.Tensor, keep: np.ndarray) -> torch.Tensor:
    """Real part of IFFT2(keep * FFT2(x)), per image and channel, in float64 (so that the low-
    and the high-pass images add up to x to float32 precision), returned in x's dtype."""
    x = torch.as_tensor(x)
    spectrum = torch.fft.fft2(x.to(torch.float64))
    kept = spectrum * torch.as_tensor(keep, dtype=torch.float64, device=x.device)
    return torch.fft.ifft2(kept).real.to(x.dtype)


def low_pass(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Images (N, C, H, W) with only the frequencies of radius <= ``radius`` kept (cycles per
    image; DC included). Not clipped: values may leave [0, 1]."""
    return _filtered(x, low_pass_mask(x.shape[-2], x.shape[-1], radius))


def high_pass(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Images (N, C, H, W) with only the frequencies of radius > ``radius`` kept: DC is
    removed (each image's mean is 0), as in Yin et al. (2019). ``low_pass(x, r) +
    high_pass(x, r)`` is x."""
    return _filtered(x, ~low_pass_mask(x.shape[-2], x.shape[-1], radius))


def band_edges(size: int, n_bands: int) -> list[float]:
    """The outer radius of each of the ``n_bands`` rings of
    :func:`fm_core.science.analysis.radial_bands` (equal widths up to the corner bin): the
    default radii of :func:`filtered_accuracy`, so that its curve and the band ablation
    share their scale."""
    top = float(frequency_radius(size, size).max())
    return [top * (b + 1) / n_bands for b in range(n_bands)]


def filtered_accuracy(model, x: torch.Tensor, y, radii: Sequence[float]) -> dict:
    """Accuracy (%) of ``model`` on low- and on high-pass images of (x, y) at each radius:
    ``{"radii": [...], "low": [...], "high": [...]}``. A network that uses low frequencies
    keeps its accuracy on low-pass images down to small radii; Yin et al. (2019) report
    naturally trained networks well above chance on high-pass images that look grey. The
    pages pass the outer edges of the profile's radial bands (:func:`band_edges`)."""
    radii = [float(r) for r in radii]
    return {"radii": radii,
            "low": [pct(accuracy(model, low_pass(x, r), y)) for r in radii],
            "high": [pct(accuracy(model, high_pass(x, r), y)) for r in radii]}


def band_ablation(model, x: torch.Tensor, y, n_bands: int) -> dict:
    """Accuracy (%) with each ring of :func:`fm_core.science.analysis.radial_bands` removed
    (all its bins at once; band 0 holds DC), one pass over the images per band:
    ``{"clean": %, "edges": outer radii, "removed": [% per band]}``; NaN for a band too
    thin to hold a bin. The cost of a band is ``clean - removed``."""
    size = x.shape[-1]
    if x.shape[-2] != size:
        raise ValueError(f"band_ablation needs square images, got {tuple(x.shape[-2:])}")
    bands = radial_bands(size, n_bands)
    removed = [pct(accuracy(model, _filtered(x, ~band), y)) if band.any() else float("nan") for band in bands]
    return {"clean": pct(accuracy(model, x, y)), "edges": band_edges(size, n_bands), "removed": removed}

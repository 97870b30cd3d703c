"""Analyses behind the paper's figures and tables: pure NumPy / scikit-learn.

One function per artefact of Karantzas et al. (2022), "Understanding Robustness and
Generalization of ANNs Through Fourier Masks":

- Figure 1 (blue shift): :func:`activation_spectra`, :func:`intermodulation_spectrum`
- Figure 3 (dataset masks and their differences): :func:`mask_differences`
- Figure 4 (radial / angular band energies): :func:`radial_bands`, :func:`angular_bands`,
  :func:`band_energies`, :func:`energy_differences`
- Figure 7 (per-band preference of adversarial masks): :func:`band_preference`
- Table 3 and Figure 8 (linear classifier on single-image masks, UMAP): in
  :mod:`fm_core.science.mask_classifier`
- Checks against the synthetic data's planted frequencies: :func:`ground_truth_scores`,
  :func:`ground_truth_roc`, :func:`radial_profile`

Conventions. A mask is a real array (H, W) in [0, 1] in NumPy's *unshifted* FFT layout
(DC at [0, 0]); stacks of masks are (..., H, W). The frequency of bin (i, j) is
``k = (ky, kx) = (fftfreq(H)[i] * H, fftfreq(W)[j] * W)`` in cycles per image: ``ky``
along rows (vertical), ``kx`` along columns (horizontal). Figures fftshift for display;
nothing here does.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

# --------------------------------------------------------------------------- Figure 1

# The authors' blue-shift notebook clips hardtanh at +-0.3: with the usual +-1 a unit
# sine passes through unchanged and would show no distortion at all.
HARDTANH_LIMIT = 0.3

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "softplus": lambda x: np.logaddexp(0.0, x),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "hardtanh": lambda x: np.clip(x, -HARDTANH_LIMIT, HARDTANH_LIMIT),
}


def amplitude_spectrum(signal: np.ndarray) -> np.ndarray:
    """One-sided amplitude spectrum of a real 1-D signal.

    Scaled so that ``a*cos(2 pi f t)`` with ``f`` a whole number of cycles shows ``a`` at
    bin ``f``, and a constant ``c`` shows ``c`` at bin 0."""
    spectrum = np.abs(np.fft.rfft(signal)) * 2.0 / len(signal)
    spectrum[0] /= 2.0
    if len(signal) % 2 == 0:
        spectrum[-1] /= 2.0  # the Nyquist bin, like DC, has no mirror image
    return spectrum


def activation_spectra(activations: Sequence[str] | Mapping[str, Callable] = (
        "softplus", "tanh", "relu", "hardtanh"), n: int = 1024, cycles: int = 8
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Figure 1: spectra of ``act(sin(t))`` showing harmonic distortion ("blue shift").

    ``t`` spans exactly ``cycles`` periods in ``n`` samples, so every harmonic falls on
    a bin. ``activations`` are names from :data:`ACTIVATIONS` or a mapping name ->
    function. Returns name -> (frequencies, amplitudes), frequencies in multiples of
    the input's frequency (1 = the sine itself, 2 = second harmonic, ...), plus the
    key ``"input"`` for ``sin(t)`` itself.
    """
    if not isinstance(activations, Mapping):
        unknown = [a for a in activations if a not in ACTIVATIONS]
        if unknown:
            raise ValueError(f"unknown activations {unknown}; choose from {list(ACTIVATIONS)}")
        activations = {name: ACTIVATIONS[name] for name in activations}
    t = 2 * np.pi * cycles * np.arange(n) / n
    x = np.sin(t)
    harmonics = np.fft.rfftfreq(n, d=1.0 / n) / cycles
    out = {"input": (harmonics, amplitude_spectrum(x))}
    for name, act in activations.items():
        out[name] = (harmonics, amplitude_spectrum(act(x)))
    return out


def intermodulation_spectrum(w1: int, w2: int, n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Figure 1 / Section 2.1: spectrum of ``(cos(w1 t) + cos(w2 t))**2``.

    The square creates components at 0, 2*w1, 2*w2 (harmonic distortion) and w1 + w2,
    |w1 - w2| (intermodulation): 1/2 [2 + cos 2w1t + cos 2w2t + 2cos(w1+w2)t +
    2cos(w1-w2)t]. ``w1``, ``w2`` are whole cycles per window of ``n`` samples.
    Returns (frequencies in cycles per window, amplitudes).
    """
    if w1 == w2 or min(w1, w2) <= 0 or 2 * max(w1, w2) >= n / 2:
        raise ValueError(f"need distinct positive w1, w2 with 2*max(w1, w2) < n/2 "
                         f"(got w1={w1}, w2={w2}, n={n})")
    t = 2 * np.pi * np.arange(n) / n
    signal = (np.cos(w1 * t) + np.cos(w2 * t)) ** 2
    return np.fft.rfftfreq(n, d=1.0 / n), amplitude_spectrum(signal)


# --------------------------------------------------------------------------- Figure 4

def frequency_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(ky, kx) of every bin of an unshifted size x size FFT, in cycles per image."""
    k = np.fft.fftfreq(size) * size
    return np.meshgrid(k, k, indexing="ij")


def _one_hot(index: np.ndarray, n_bands: int) -> np.ndarray:
    return index[None] == np.arange(n_bands)[:, None, None]


def radial_bands(size: int, n_bands: int) -> np.ndarray:
    """Figure 4 (radial partition): (n_bands, size, size) bool, one ring per band.

    Rings of equal width in |k| from 0 to the largest radius on the grid (the corner
    bin); band 0 holds DC. Every bin lies in exactly one band (rings too thin to hold
    a bin are empty).
    """
    ky, kx = frequency_grid(size)
    radius = np.hypot(ky, kx)
    index = np.floor(radius / radius.max() * n_bands).astype(int)
    return _one_hot(np.minimum(index, n_bands - 1), n_bands)


def angular_bands(size: int, n_bands: int) -> np.ndarray:
    """Figure 4 (angular partition): (n_bands, size, size) bool, one wedge per band.

    Band b holds orientations atan2(ky, kx) modulo 180 degrees in [b, b+1) * 180/n_bands,
    so k and -k (which a real image's spectrum ties together) share a band; DC is put
    in band 0. On even grids the Nyquist row and column are their own mirror images
    (k_y = -size/2 aliases to +size/2), so a bin and its mirror are given the smaller
    of their two band indices: the partition is exactly symmetric under k -> -k.
    (The authors' notebooks use wedges over the full 360 degrees instead.)
    """
    ky, kx = frequency_grid(size)
    flip = (ky < 0) | ((ky == 0) & (kx < 0))  # bring k into the upper half-plane
    angle = np.arctan2(np.where(flip, -ky, ky), np.where(flip, -kx, kx))  # in [0, pi]
    index = np.minimum(np.floor(angle / np.pi * n_bands).astype(int), n_bands - 1)
    mirrored = np.roll(index[::-1, ::-1], 1, axis=(0, 1))  # index at -k (mod size)
    return _one_hot(np.minimum(index, mirrored), n_bands)


def band_energies(masks: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Figure 4 / 7: energy of each band of each mask, (..., H, W) -> (..., n_bands).

    As in the authors' notebooks, each mask is first scaled to unit L2 norm; a band's
    energy is then the L2 norm of the mask restricted to the band. So the squared band
    energies of a mask sum to 1 (an all-zero mask gives zeros).
    """
    masks = np.asarray(masks, dtype=float)
    norms = np.sqrt(np.sum(masks ** 2, axis=(-2, -1), keepdims=True))
    unit = masks / np.where(norms > 0, norms, 1.0)
    return np.sqrt(np.einsum("...hw,bhw->...b", unit ** 2, np.asarray(bands, dtype=float)))


def energy_differences(masks: np.ndarray, bands: np.ndarray, reference: int = 0) -> np.ndarray:
    """Figure 4 (bottom rows): band energies of every other mask minus the reference's.

    ``masks`` (K, H, W) -> (K - 1, n_bands), rows in the order of the other masks
    (e.g. B-A, C-A, D-A, E-A with A the vanilla mask).
    """
    energies = band_energies(masks, bands)
    others = [i for i in range(len(energies)) if i != reference]
    return energies[others] - energies[reference]


# --------------------------------------------------------------------------- Figure 3

def mask_differences(masks: np.ndarray, reference: int = 0, keep_zero: bool = False) -> np.ndarray:
    """Figure 3 (bottom row): each other mask minus the reference, jointly normalised.

    ``masks`` (K, H, W) -> (K - 1, H, W). As in the paper's figure, the differences are
    min-max normalised *together* (one min and max over all of them) and shifted by
    -0.5, so they span exactly [-0.5, 0.5]. Beware: that shift moves "no difference"
    away from 0 unless the extremes are symmetric. ``keep_zero=True`` instead divides
    by twice the largest absolute difference: same span at most, zero stays zero.
    """
    masks = np.asarray(masks, dtype=float)
    others = [i for i in range(len(masks)) if i != reference]
    diffs = masks[others] - masks[reference]
    if keep_zero:
        scale = 2 * np.abs(diffs).max()
        return diffs / scale if scale > 0 else diffs
    span = diffs.max() - diffs.min()
    if span == 0:
        return np.zeros_like(diffs)
    return (diffs - diffs.min()) / span - 0.5


# --------------------------------------------------------------------------- Figure 7

def band_preference(masks_a: np.ndarray, masks_b: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Figure 7: per band, the % of images whose mask A has more energy than mask B.

    ``masks_a``, ``masks_b``: (N, H, W), paired by image (paper: A = adversarially
    trained net on x_A, B = vanilla net on x). Returns (n_bands,) percentages; NaN for
    bands that hold no bin.
    """
    wins = band_energies(masks_a, bands) > band_energies(masks_b, bands)
    percent = 100.0 * wins.mean(axis=0)
    empty = ~np.asarray(bands).reshape(len(bands), -1).any(axis=1)
    percent[empty] = np.nan
    return percent


# -------------------------------------------------------- ground-truth (synthetic data)

def _flat_truth(mask: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask, truth = np.asarray(mask, dtype=float), np.asarray(truth, dtype=bool)
    if truth.ndim == 3:
        truth = truth.any(axis=0)  # a mask for all classes: any class's frequencies
    if truth.shape != mask.shape:
        raise ValueError(f"mask {mask.shape} and truth {truth.shape} differ in shape")
    if truth.all() or not truth.any():
        raise ValueError("truth must mark some, but not all, frequency bins")
    return mask.ravel(), truth.ravel()


def ground_truth_scores(mask: np.ndarray, truth: np.ndarray) -> dict:
    """Does a mask find the frequencies planted in the synthetic data?

    ``mask`` (H, W); ``truth`` bool (H, W), or (C, H, W) whose union over classes is
    used. Returns ``{"auroc", "precision_at_k", "k"}``: the ROC AUC of the mask's values
    ranking planted bins above the rest (1 = perfect, 0.5 = chance), the fraction of
    planted bins among the k largest mask values, and k = the number of planted bins.
    """
    from sklearn.metrics import roc_auc_score  # here, not at the top: see fm_core.science

    values, planted = _flat_truth(mask, truth)
    k = int(planted.sum())
    top_k = np.argsort(-values, kind="stable")[:k]
    return {"auroc": float(roc_auc_score(planted, values)),
            "precision_at_k": float(planted[top_k].mean()),
            "k": k}


def ground_truth_roc(mask: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve (false-positive rate, true-positive rate) behind ``ground_truth_scores``."""
    from sklearn.metrics import roc_curve

    values, planted = _flat_truth(mask, truth)
    fpr, tpr, _ = roc_curve(planted, values)
    return fpr, tpr


def radial_profile(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean mask value against radius |k| (rounded to whole cycles per image).

    ``mask`` (H, W) square, unshifted. Returns (radii, mean value at each radius)."""
    mask = np.asarray(mask, dtype=float)
    ky, kx = frequency_grid(mask.shape[-1])
    radius = np.rint(np.hypot(ky, kx)).astype(int).ravel()
    sums = np.bincount(radius, weights=mask.ravel())
    counts = np.bincount(radius)
    radii = np.flatnonzero(counts)
    return radii, sums[radii] / counts[radii]


def log_amplitude_spectrum(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """log(1 + |M ⊙ FFT2(image)|), unshifted (M = 1 when ``mask`` is None): the spectra
    drawn in Figure 2's schematic of the mask layer."""
    spectrum = np.abs(np.fft.fft2(np.asarray(image, dtype=float)))
    return np.log1p(spectrum if mask is None else spectrum * np.asarray(mask, dtype=float))


def mean_power_spectrum(images: np.ndarray, labels: np.ndarray | None = None,
                        n_classes: int | None = None) -> np.ndarray:
    """Mean |FFT2|^2 of images (N, H, W), unshifted: (H, W), or (C, H, W) per class when
    ``labels`` are given (a class without images gets zeros)."""
    power = np.abs(np.fft.fft2(np.asarray(images, dtype=float))) ** 2
    if labels is None:
        return power.mean(axis=0)
    labels = np.asarray(labels)
    n_classes = n_classes if n_classes is not None else int(labels.max()) + 1
    return np.stack([power[labels == c].mean(axis=0) if (labels == c).any()
                     else np.zeros(power.shape[1:]) for c in range(n_classes)])

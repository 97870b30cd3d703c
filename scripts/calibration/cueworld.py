"""The two-cue world: a 5-class synthetic image set where every class is signalled by a
LOW-frequency cue L and a HIGH-frequency cue H at known FFT bins (numpy only).

Design (sizes in cycles per image at 32 px; every frequency is multiplied by size/32 at
64 and 128 px, so both cues sit at the same fraction of Nyquist at every size):

- background: Gaussian noise with a 1/f^2 power spectrum (amplitude 1/max(f, 1), DC 0),
  scaled so that its expected pixel std is ``BACKGROUND_STD``; at the L-cue bins of all
  five classes (a class-independent set of 20 bins, +-k) its amplitude is multiplied by
  ``L_BAND_DAMP`` so that the L cue is not buried under the strongest part of a 1/f^2
  spectrum (the rest of the low band keeps its natural energy);
- L cue: two plane waves per class, radius 2-3.2 cycles/image, orientations about 90
  degrees apart, amplitude ``L_AMPLITUDE`` each (pixel units), uniform random phases;
- H cue: two plane waves per class, radius 11.7-12.2 cycles/image (the ten cue
  orientations are 18 degrees apart), amplitude ``h_amplitude`` each, random phases;
- white pixel noise of std ``WHITE_NOISE``; image = clip(0.5 + everything, 0, 1) as uint8.

Each cue has its own reliability: with probability rho the cue shows the true class,
else the cue of a uniformly drawn *other* class (independently for L and H). Default
rho_H = 1 (H is the easy shortcut), rho_L = 0.9. The H amplitude is the robustness knob:
at ~1-1.5x the PGD eps an L-inf attack can erase or swap H, while L (amplitude >> eps)
survives; ``ROBUST_H_AMPLITUDE`` is the control with H far above eps.

What the paper's augmentations do to each cue (measured by aug_check.py: which class's
cue bins hold the most power after the transform, on L-only / H-only images):

- translation (RandomAffine translate 0.4): a shifted plane wave is the same wave with
  another phase, so a circular shift leaves |FFT| exactly unchanged (both cues 100%) and
  a real shift keeps both waves intact in the visible part. torchvision fills the
  uncovered border with 0 (black, on a mean-0.5 image): that step edge floods the low
  band and cuts the image area, so the bin read-out falls to 22% (L) / 34% (H); with
  fill=0.5 (mean grey) both cues read 100%. A vanilla net trained with translation
  (zero fill) uses both cues about equally (L-bias 0.50, val 93%, 2,000-image screen).
- rotation (RandomRotation 180): a plane wave rotates with the image; its energy moves
  to another orientation at the SAME radius. Both cues are orientation codes, so a
  rotation by more than ~9 degrees (H: half the 18-degree spacing) or ~15 degrees (L)
  turns a class's cue into noise or into another class's cue (read-out 29% L, 23% H).
  Rotations by multiples of 90 degrees keep every H cue (each class's two H waves are k
  and k rotated by 90 degrees) but not the L cues (read-out 44%). Rotation-robust
  variants would put each class on its own ring; at 32 px the L band has too few
  lattice radii for five separable rings, so this design keeps orientation codes and
  favours the vanilla-vs-adversarial separation.
- scale (RandomAffine scale 0.5-1.5): zooming by s moves a wave from radius r to r/s with
  its orientation kept: L moves to 1.3-6.3 cycles, H to 8-24 (beyond Nyquist 16 for
  s < 0.75: aliased or lost to interpolation). Bin read-out 50% (L) / 30% (H): a network
  must read orientation rather than exact radius to keep the class.

Sizes: every frequency scales with size/32 while amplitudes, noise and the background's
pixel std stay in pixel units. The 1/f^2 background is scale-invariant, so the per-bin
SNR of both cues grows together (L 7.6 / H 8.2 at 32 px, 16.6 / 17.7 at 64, 36 / 38 at
128): the L-vs-H balance is kept, and the PGD relation (H amplitude vs eps, pixel units)
does not depend on size. Calibrated at 32 px only.

Other eps: multiplying every amplitude (background, white noise, L, H) by c gives the
same images up to contrast, and the networks normalise by the training std, so the
design for eps' is this one with c = eps'/EPS_PIXEL (checked at 2/255: c = 0.5).

``truth(size)`` gives each class's cue bins in the unshifted FFT layout (index
[ky % size, kx % size], both k and -k). Everything is deterministic given the seed.
"""
from __future__ import annotations

import numpy as np

CLASS_NAMES = ["c0", "c1", "c2", "c3", "c4"]
NUM_CLASSES = 5
N_TRAIN, N_VAL = 4710, 1934  # the paper's Imagenette-5 split sizes
SIZES = (32, 64, 128)

# (kx, ky) at 32 px, two plane waves per class per cue.
L_FREQS_32 = [
    [(2, 0), (0, 2)],     # r 2.0, 2.0   (0 and 90 degrees)
    [(3, 1), (-1, 2)],    # r 3.2, 2.2   (18, 117)
    [(2, 1), (-2, 2)],    # r 2.2, 2.8   (27, 135)
    [(2, 2), (-2, 1)],    # r 2.8, 2.2   (45, 153)
    [(1, 2), (-3, 1)],    # r 2.2, 3.2   (63, 162)
]
H_FREQS_32 = [
    [(12, 0), (0, 12)],   # r 12.0, 12.0 (0, 90 degrees)
    [(11, 4), (-4, 11)],  # r 11.7       (20, 110)
    [(10, 7), (-7, 10)],  # r 12.2       (35, 125)
    [(7, 10), (-10, 7)],  # r 12.2       (55, 145)
    [(4, 11), (-11, 4)],  # r 11.7       (70, 160)
]

# Calibrated design (pixel units in [0, 1]); see CALIBRATION.md.
EPS_PIXEL = 4 / 255               # the PGD eps the H amplitude is set against
BACKGROUND_STD = 0.06             # expected pixel std of the 1/f^2 background
L_BAND_DAMP = 0.6                 # background amplitude factor at the L-cue bins
WHITE_NOISE = 0.015               # std of white pixel noise
L_AMPLITUDE = 0.05                # per plane wave
H_AMPLITUDE = 1.25 * EPS_PIXEL    # per plane wave: ~1.25x eps, erasable by PGD
ROBUST_H_AMPLITUDE = 5 * EPS_PIXEL  # the robust-H control: far above eps
RHO_L, RHO_H = 0.9, 1.0
CHUNK = 512


def settings_for_eps(eps: float = EPS_PIXEL, robust_h: bool = False) -> dict:
    """Keyword settings for ``generate``/``probe_sets`` calibrated for PGD radius ``eps``
    (pixel units): the calibrated design with every amplitude scaled by eps/EPS_PIXEL.
    ``robust_h``: the control with H far above eps (5x)."""
    c = eps / EPS_PIXEL
    return dict(h_amplitude=c * (ROBUST_H_AMPLITUDE if robust_h else H_AMPLITUDE),
                l_amplitude=c * L_AMPLITUDE, background_std=c * BACKGROUND_STD,
                white_noise=c * WHITE_NOISE, l_band_damp=L_BAND_DAMP)


def frequencies(size: int, which: str) -> np.ndarray:
    """(5, 2, 2) int array of (kx, ky) per class and wave for cue ``which`` ('low'/'high')."""
    if size % 32:
        raise ValueError(f"size must be a multiple of 32, got {size}")
    base = {"low": L_FREQS_32, "high": H_FREQS_32}[which]
    return np.array(base, dtype=np.int64) * (size // 32)


def truth(size: int) -> dict:
    """{"low": (5, size, size) bool, "high": ...}: each class's cue bins, unshifted FFT
    layout (index [ky % size, kx % size]), both k and -k."""
    out = {}
    for which in ("low", "high"):
        m = np.zeros((NUM_CLASSES, size, size), dtype=bool)
        for c, waves in enumerate(frequencies(size, which)):
            for kx, ky in waves:
                m[c, ky % size, kx % size] = True
                m[c, (-ky) % size, (-kx) % size] = True
        out[which] = m
    return out


def _background_filter(size: int, background_std: float, l_band_damp: float) -> np.ndarray:
    f = np.fft.fftfreq(size) * size
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    amp = 1.0 / np.maximum(radius, 1.0)
    amp[0, 0] = 0.0
    # white N(0,1) pixels -> per-bin variance size^2; pixel variance = sum(amp^2)/size^2
    amp *= background_std * size / np.sqrt((amp ** 2).sum())
    amp[truth(size)["low"].any(0)] *= l_band_damp
    return amp


def _waves(rng, cls: np.ndarray, freqs: np.ndarray, amplitude: float, size: int) -> np.ndarray:
    """Sum of each image's class's two plane waves, random phases; cls < 0: none."""
    n = len(cls)
    out = np.zeros((n, size, size), dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi, (n, 2))
    present = cls >= 0
    if amplitude == 0 or not present.any():
        return out
    k = freqs[np.where(present, cls, 0)].astype(np.float64)  # (n, 2, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    for j in range(2):
        arg = 2 * np.pi * (k[:, j, 0, None, None] * xx + k[:, j, 1, None, None] * yy)
        out += np.cos(arg + phase[:, j, None, None])
    out *= amplitude * present[:, None, None]
    return out


def _other_class(rng, y: np.ndarray) -> np.ndarray:
    return (y + rng.integers(1, NUM_CLASSES, len(y))) % NUM_CLASSES


def _render(rng, l_cls, h_cls, size, *, h_amplitude, l_amplitude, background_std,
            l_band_damp, white_noise, notch=None) -> np.ndarray:
    """uint8 images with L cue of class ``l_cls`` and H cue of ``h_cls`` (-1: absent)."""
    n = len(l_cls)
    out = np.empty((n, size, size), dtype=np.uint8)
    filt = _background_filter(size, background_std, l_band_damp)
    fl, fh = frequencies(size, "low"), frequencies(size, "high")
    for s in range(0, n, CHUNK):
        lc, hc = l_cls[s:s + CHUNK], h_cls[s:s + CHUNK]
        m = len(lc)
        white = rng.standard_normal((m, size, size))
        img = np.fft.ifft2(np.fft.fft2(white) * filt).real
        img += _waves(rng, lc, fl, l_amplitude, size)
        img += _waves(rng, hc, fh, h_amplitude, size)
        img += white_noise * rng.standard_normal((m, size, size))
        if notch is not None:  # ideal Fourier mask: zero these bins (and so the cue)
            spec = np.fft.fft2(img)
            spec[:, notch] = 0
            img = np.fft.ifft2(spec).real
        out[s:s + m] = np.round(np.clip(0.5 + img, 0.0, 1.0) * 255).astype(np.uint8)
    return out


def _defaults(kw: dict) -> dict:
    d = dict(h_amplitude=H_AMPLITUDE, l_amplitude=L_AMPLITUDE, background_std=BACKGROUND_STD,
             l_band_damp=L_BAND_DAMP, white_noise=WHITE_NOISE)
    unknown = set(kw) - set(d)
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    d.update({k: v for k, v in kw.items() if v is not None})
    return d


def generate(n: int, size: int, seed: int, *, h_amplitude: float = H_AMPLITUDE,
             rho_l: float = RHO_L, rho_h: float = RHO_H, return_cues: bool = False, **kw):
    """``n`` images (uint8, n x size x size) and balanced labels (int64).

    Each image's L cue shows its label with probability ``rho_l`` (else another class's
    L cue, uniformly), independently its H cue with probability ``rho_h``. Extra keyword
    settings: l_amplitude, background_std, l_band_damp, white_noise. With
    ``return_cues`` also returns the classes the L and H cues actually show."""
    s = _defaults(dict(kw, h_amplitude=h_amplitude))
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)
    l_cls = np.where(rng.random(n) < rho_l, y, _other_class(rng, y))
    h_cls = np.where(rng.random(n) < rho_h, y, _other_class(rng, y))
    x = _render(rng, l_cls, h_cls, size, **s)
    return (x, y, l_cls, h_cls) if return_cues else (x, y)


def probe_sets(n: int, size: int, seed: int, **kw) -> dict:
    """Held-out probe sets, name -> (uint8 images, labels_L, labels_H); -1 = cue absent.

    - ``l_only``: background + L cue only;  ``h_only``: background + H cue only;
    - ``conflict``: L cue of class a, H cue of class b != a (uniform);
    - ``h_removed``: both cues of the same class, then every class's H bins zeroed in
      the FFT (background included: what an ideal Fourier mask does);
    - ``l_removed``: likewise with every class's L bins zeroed.
    Use a seed that differs from the training/validation seeds."""
    s = _defaults(kw)
    t = truth(size)
    out = {}
    for i, name in enumerate(("l_only", "h_only", "conflict", "h_removed", "l_removed")):
        rng = np.random.default_rng([seed, i])
        y = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)
        none = np.full(n, -1, dtype=np.int64)
        notch = None
        if name == "l_only":
            lc, hc = y, none
        elif name == "h_only":
            lc, hc = none, y
        elif name == "conflict":
            lc, hc = y, _other_class(rng, y)
        else:
            lc, hc = y, y
            notch = t["high" if name == "h_removed" else "low"].any(0)
        x = _render(rng, lc, hc, size, notch=notch, **s)
        if name == "h_removed":
            hc = none
        if name == "l_removed":
            lc = none
        out[name] = (x, lc, hc)
    return out


def splits(size: int = 32, seed: int = 0, n_train: int = N_TRAIN, n_val: int = N_VAL, **kw):
    """(x_train, y_train, x_val, y_val) from seeds 2*seed+1 and 2*seed+2."""
    xt, yt = generate(n_train, size, 2 * seed + 1, **kw)
    xv, yv = generate(n_val, size, 2 * seed + 2, **kw)
    return xt, yt, xv, yv

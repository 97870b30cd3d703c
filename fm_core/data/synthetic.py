"""The default data set: a two-cue world where the paper's question has a known answer.

Five classes, the paper's split sizes (4,710 train / 1,934 val), 32, 64 or 128 pixels.
Every class is signalled twice, at known Fourier bins (sizes in cycles per image at
32 px; every frequency is multiplied by size/32 at 64 and 128 px):

- a **low-frequency cue L**: two plane waves per class at radius 2-3.2, orientations
  about 90 degrees apart, amplitude ``L_AMPLITUDE`` each, random phases;
- a **high-frequency cue H**: two plane waves per class at radius 11.7-12.2 (the ten
  orientations 18 degrees apart), amplitude ``h_ratio`` x ``CUE_EPS`` each: at the
  default 1.25 x the PGD eps an L-inf attack can erase or swap H while L survives; the
  *robust-H* control (``ROBUST_H_RATIO``) puts H far above eps;
- over a natural-looking background: Gaussian noise with a 1/f^2 power spectrum of pixel
  std ``BACKGROUND_STD`` (damped by ``L_BAND_DAMP`` at the L bins, so that L is not
  buried under the strongest part of the spectrum), plus white noise.

**The phase-cue variant** (``h_carrier="phase"``): H is carried by phase alone. Every
image shows the same three plane waves (``H_TRIAD_32``, radius 11.7-12.2, k3 = k1 + k2)
at the same amplitudes; k1 and k2 have random phases and k3 the phase phi1 + phi2 +
2 pi c / 5 for class c, and the background and the white noise are left out of the
triad's bins, so their amplitudes are the same in every image (up to rounding to 8 bits),
not only on average. With noise there, each image's triad amplitude varies, a network's
confidence follows it, and an amplitude mask keeps a little of those bins: a sensitivity
to amplitude, not class information (page 15's first version showed it). The class is then in the triad's relative phase (its
bispectrum), which a shift of the image leaves alone (a convolutional network with a
pooled head cannot read one wave's absolute phase, which a shift changes), and in no
amplitude: the amplitude spectrum is the same for every class.

Each cue has its own reliability: with probability rho it shows the true class, else a
uniformly drawn *other* class's cue (independently for L and H). Defaults rho_H = 1
(H is the easy shortcut) and rho_L = 0.9. ``train_cues`` = "low" or "high" draws images
with one cue only (the positive controls: networks that can only read L, or only H).

Ground truth: :func:`truth` gives each class's L and H bins in the masks' unshifted FFT
layout (index [ky % size, kx % size], both k and -k). :func:`probe_sets` draws held-out
probe images from another seed: L only, H only, cue conflict (L of class a, H of class
b != a), H removed and L removed (the bins zeroed, as an ideal Fourier mask would).

What the paper's augmentations do to each cue:

- translation: a translated plane wave is a plane wave at the same frequency with
  another phase, so both cues survive a circular shift; torchvision's RandomAffine fills
  the uncovered border with black, and that edge puts energy into the low band, so the
  translate regime sees a noisier L (its network used both cues about equally in the
  calibration);
- rotation (up to 180 degrees): a wave rotates with the image, moving its energy to
  another orientation at the same radius; both cues are orientation codes, so rotating
  by more than ~9 degrees (H) or ~15-20 degrees (L) turns one class's cue into something
  near another class's: the rotate regime destroys both cues as class signals, and its
  network can only learn from what rotation leaves (a finding, not a defect);
- scale (0.5-1.5): zooming by s moves a wave from radius r to r/s (L to 1.3-6.3, H to
  8-24, aliased beyond Nyquist); orientation is kept, so a network that reads
  orientation rather than exact radius keeps part of the code.

Everything is drawn from seeds; the result is cached as ``uint8`` under ``data/``.
The calibration (what was tried and what each gave) is on the book's data page.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .dataset import Dataset, from_arrays
from fm_core.errors import UserError
from fm_core.paths import data_dir
from fm_core.utils import load_npz, save_npz_atomic

GENERATOR_VERSION = 2
CLASS_NAMES = ["class 0", "class 1", "class 2", "class 3", "class 4"]
NUM_CLASSES = len(CLASS_NAMES)
N_TRAIN, N_VAL = 4710, 1934  # the paper's Imagenette-5 split sizes
N_PROBE = 1000  # images per probe set
PROBE_SEED_OFFSET = 1000  # probes come from data_seed + this: never the train/val seeds
SIZES = (32, 64, 128)
CHUNK = 512  # images generated at once: keeps memory flat at 128 px

# (kx, ky) at 32 px, two plane waves per class per cue.
L_FREQS_32 = [
    [(2, 0), (0, 2)],     # radius 2.0, 2.0 (0 and 90 degrees)
    [(3, 1), (-1, 2)],    # 3.2, 2.2 (18, 117)
    [(2, 1), (-2, 2)],    # 2.2, 2.8 (27, 135)
    [(2, 2), (-2, 1)],    # 2.8, 2.2 (45, 153)
    [(1, 2), (-3, 1)],    # 2.2, 3.2 (63, 162)
]
H_FREQS_32 = [
    [(12, 0), (0, 12)],   # 12.0 (0, 90 degrees)
    [(11, 4), (-4, 11)],  # 11.7 (20, 110)
    [(10, 7), (-7, 10)],  # 12.2 (35, 125)
    [(7, 10), (-10, 7)],  # 12.2 (55, 145)
    [(4, 11), (-11, 4)],  # 11.7 (70, 160)
]

# The calibrated design, in [0, 1] pixel units.
CUE_EPS = 4 / 255  # the PGD eps that the H amplitude is stated against
BACKGROUND_STD = 0.06
L_BAND_DAMP = 0.6
WHITE_NOISE = 0.015
L_AMPLITUDE = 0.05
ROBUST_H_RATIO = 5.0
# The phase-cue variant's H: one triad for every class, k3 = k1 + k2 (32 px)
H_TRIAD_32 = [(11, 4), (-9, 8), (2, 12)]
H_CARRIERS = ("amplitude", "phase")


@dataclass(frozen=True)
class CueWorld:
    """The knobs of the world, recorded in every key of what is made from it."""

    h_ratio: float = 1.25  # H amplitude / CUE_EPS
    rho_l: float = 0.9
    rho_h: float = 1.0
    train_cues: str = "both"  # "both", "low" or "high" (positive controls)
    h_carrier: str = "amplitude"  # or "phase": the phase-cue variant (module docstring)

    def __post_init__(self):
        if self.train_cues not in ("both", "low", "high"):
            raise UserError(f"train_cues must be both, low or high, not {self.train_cues!r}")
        if self.h_carrier not in H_CARRIERS:
            raise UserError(f"h_carrier must be one of {', '.join(H_CARRIERS)}, not {self.h_carrier!r}")
        for name in ("rho_l", "rho_h"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UserError(f"{name} must lie in [0, 1]")
        if self.h_ratio < 0:
            raise UserError("h_ratio must be >= 0")

    @property
    def h_amplitude(self) -> float:
        return self.h_ratio * CUE_EPS


def frequencies(size: int, which: str) -> np.ndarray:
    """(5, 2, 2) int (kx, ky) per class and wave of cue ``which`` ('low' or 'high')."""
    if size not in SIZES:
        raise UserError(f"the synthetic data set comes in sizes {SIZES}, not {size}")
    return np.array({"low": L_FREQS_32, "high": H_FREQS_32}[which], dtype=np.int64) * (size // 32)


def triad(size: int) -> np.ndarray:
    """(3, 2) int (kx, ky) of the phase-cue variant's H waves at ``size``."""
    frequencies(size, "low")  # checks the size
    return np.array(H_TRIAD_32, dtype=np.int64) * (size // 32)


def truth(size: int, h_carrier: str = "amplitude") -> dict[str, np.ndarray]:
    """{"low": (5, size, size) bool, "high": ...}: each class's cue bins, unshifted (in the
    phase-cue variant every class's H bins are the triad's)."""
    out = {}
    for which in ("low", "high"):
        m = np.zeros((NUM_CLASSES, size, size), dtype=bool)
        per_class = [triad(size)] * NUM_CLASSES if which == "high" and h_carrier == "phase" \
            else frequencies(size, which)
        for c, waves in enumerate(per_class):
            for kx, ky in waves:
                m[c, ky % size, kx % size] = m[c, (-ky) % size, (-kx) % size] = True
        out[which] = m
    return out


def _background_filter(size: int, h_carrier: str = "amplitude") -> np.ndarray:
    f = np.fft.fftfreq(size) * size
    amp = 1.0 / np.maximum(np.hypot(f[:, None], f[None, :]), 1.0)
    amp[0, 0] = 0.0
    amp *= BACKGROUND_STD * size / np.sqrt((amp ** 2).sum())  # expected pixel std
    amp[truth(size)["low"].any(0)] *= L_BAND_DAMP
    if h_carrier == "phase":  # the triad's amplitudes the same in every image, not only on average
        amp *= _outside_triad(size)
    return amp


def _outside_triad(size: int) -> np.ndarray:
    """(size, size) 0 on the phase-cue variant's triad bins (both signs), 1 elsewhere."""
    return (~truth(size, "phase")["high"].any(0)).astype(np.float64)


def _sum_of_waves(k: np.ndarray, phases: np.ndarray, amplitude: float, present: np.ndarray,
                  size: int) -> np.ndarray:
    """(n, size, size): image i holds the plane waves k[i] (W, 2) (kx, ky) at phases[i] (W,),
    times ``amplitude``; images not ``present`` hold none."""
    out = np.zeros((len(k), size, size))
    if amplitude == 0 or not present.any():
        return out
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    for j in range(k.shape[1]):
        out += np.cos(2 * np.pi * (k[:, j, 0, None, None] * xx + k[:, j, 1, None, None] * yy)
                      + phases[:, j, None, None])
    return out * amplitude * present[:, None, None]


def _waves(rng, cls: np.ndarray, freqs: np.ndarray, amplitude: float, size: int) -> np.ndarray:
    """Each image's class's two plane waves with random phases; cls < 0: none."""
    phase = rng.uniform(0, 2 * np.pi, (len(cls), 2))
    present = cls >= 0
    return _sum_of_waves(freqs[np.where(present, cls, 0)].astype(np.float64), phase, amplitude, present, size)


def _triads(rng, cls: np.ndarray, amplitude: float, size: int) -> np.ndarray:
    """Each image's phase-coded H cue (module docstring); cls < 0: none."""
    phase = rng.uniform(0, 2 * np.pi, (len(cls), 2))
    present = cls >= 0
    phases = np.stack([phase[:, 0], phase[:, 1], phase.sum(1) + 2 * np.pi * np.maximum(cls, 0) / NUM_CLASSES], 1)
    k = np.broadcast_to(triad(size).astype(np.float64), (len(cls), 3, 2))
    return _sum_of_waves(k, phases, amplitude, present, size)


def _render(rng, l_cls, h_cls, size: int, world: CueWorld, notch=None) -> np.ndarray:
    """uint8 images showing the L cue of class ``l_cls`` and the H cue of ``h_cls``
    (-1: absent); ``notch``: bins zeroed afterwards (the cue and the background there)."""
    out = np.empty((len(l_cls), size, size), dtype=np.uint8)
    filt = _background_filter(size, world.h_carrier)
    fl, fh = frequencies(size, "low"), frequencies(size, "high")
    for s in range(0, len(l_cls), CHUNK):
        lc, hc = l_cls[s:s + CHUNK], h_cls[s:s + CHUNK]
        m = len(lc)
        img = np.fft.ifft2(np.fft.fft2(rng.standard_normal((m, size, size))) * filt).real
        img += _waves(rng, lc, fl, L_AMPLITUDE, size)  # L's phases are drawn first, then H's
        img += _triads(rng, hc, world.h_amplitude, size) if world.h_carrier == "phase" else \
            _waves(rng, hc, fh, world.h_amplitude, size)
        white = WHITE_NOISE * rng.standard_normal((m, size, size))
        if world.h_carrier == "phase":  # no noise in the triad's bins either (module docstring)
            white = np.fft.ifft2(np.fft.fft2(white) * _outside_triad(size)).real
        img += white
        if notch is not None:
            spec = np.fft.fft2(img)
            spec[:, notch] = 0
            img = np.fft.ifft2(spec).real
        out[s:s + m] = np.round(np.clip(0.5 + img, 0.0, 1.0) * 255).astype(np.uint8)
    return out


def _other_class(rng, y: np.ndarray) -> np.ndarray:
    return (y + rng.integers(1, NUM_CLASSES, len(y))) % NUM_CLASSES


def generate(n: int, size: int, seed: int, world: CueWorld = CueWorld()) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8, n x size x size) and their balanced labels."""
    frequencies(size, "low")  # checks the size
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)
    l_cls = np.where(rng.random(n) < world.rho_l, y, _other_class(rng, y))
    h_cls = np.where(rng.random(n) < world.rho_h, y, _other_class(rng, y))
    if world.train_cues == "low":
        h_cls = np.full(n, -1)
    elif world.train_cues == "high":
        l_cls = np.full(n, -1)
    return _render(rng, l_cls, h_cls, size, world), y


PROBE_SETS = ("l_only", "h_only", "conflict", "h_removed", "l_removed")


def probe_sets(size: int, seed: int, world: CueWorld = CueWorld(), n: int = N_PROBE) -> dict[str, dict]:
    """Held-out probe sets, name -> {"x": uint8 (n, size, size), "y_low", "y_high"}
    (the class each cue shows; -1 where a cue is absent). See the module docstring."""
    t = truth(size, world.h_carrier)
    out = {}
    for i, name in enumerate(PROBE_SETS):
        rng = np.random.default_rng([seed, i])
        y = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)
        none = np.full(n, -1, dtype=np.int64)
        notch = None
        lc, hc = {"l_only": (y, none), "h_only": (none, y), "conflict": (y, _other_class(rng, y))}.get(name, (y, y))
        if name in ("h_removed", "l_removed"):
            notch = t["high" if name == "h_removed" else "low"].any(0)
        x = _render(rng, lc, hc, size, world, notch=notch)
        out[name] = {"x": x, "y_low": none if name == "l_removed" else lc,
                     "y_high": none if name == "h_removed" else hc}
    return out


def _cache_path(kind: str, size: int, seed: int, world: CueWorld) -> Path:
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    knobs = hashlib.sha256(json.dumps(asdict(world), sort_keys=True).encode()).hexdigest()[:8]
    return data_dir() / f"synthetic-{kind}-{size}-s{seed}-{knobs}-v{GENERATOR_VERSION}-{source}.npz"


def synthetic_arrays(size: int = 32, seed: int = 0, world: CueWorld = CueWorld()) -> dict:
    """The data set's arrays, generated once and cached (the file name holds the knobs and
    a hash of this file: an edit of the generator makes a new file, never a stale one)."""
    path = _cache_path("data", size, seed, world)
    if path.exists():
        return load_npz(path)
    x_train, y_train = generate(N_TRAIN, size, seed * 2 + 1, world)
    x_val, y_val = generate(N_VAL, size, seed * 2 + 2, world)
    arrays = dict(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    save_npz_atomic(path, **arrays)
    return arrays


def load_synthetic(size: int = 32, seed: int = 0, world: CueWorld = CueWorld()) -> Dataset:
    """The two-cue world as a :class:`fm_core.data.dataset.Dataset`, with its truths."""
    frequencies(size, "low")
    a = synthetic_arrays(size, seed, world)
    cues = truth(size, world.h_carrier)
    return from_arrays("synthetic", a["x_train"], a["y_train"], a["x_val"], a["y_val"],
                       class_names=CLASS_NAMES, ground_truth=cues["low"] | cues["high"], truth=cues,
                       meta={"generator_version": GENERATOR_VERSION, "seed": seed, "world": asdict(world)})


def load_probes(size: int = 32, seed: int = 0, world: CueWorld = CueWorld(), n: int = N_PROBE) -> dict:
    """The probe sets of the world as float tensors in [0, 1], drawn from the held-out
    seed ``seed + PROBE_SEED_OFFSET`` (the data set uses 2 seed + 1 and 2 seed + 2)."""
    import torch

    path = _cache_path(f"probes{n}", size, seed, world)
    if path.exists():
        flat = load_npz(path)
        sets = {name: {k: flat[f"{name}.{k}"] for k in ("x", "y_low", "y_high")} for name in PROBE_SETS}
    else:
        sets = probe_sets(size, seed + PROBE_SEED_OFFSET, world, n)
        save_npz_atomic(path, **{f"{name}.{k}": v for name, s in sets.items() for k, v in s.items()})
    return {name: {"x": torch.from_numpy(s["x"].astype(np.float32) / 255.0)[:, None],
                   "y_low": s["y_low"], "y_high": s["y_high"]} for name, s in sets.items()}

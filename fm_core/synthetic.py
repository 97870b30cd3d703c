"""The default data set: planted frequencies with natural statistics.

No data set can be downloaded on the machines that build this project, so the default
one is generated, and built so that the paper's questions have a ground truth:

- 5 classes, the paper's split sizes (4,710 train / 1,934 val), 32, 64 or 128 pixels;
- a natural-image-like background whose power spectrum falls as 1/f^2, so that low
  frequencies carry most of the energy, as in photographs;
- two redundant cues for the class, each of random strength per image:
  * a low-frequency *shape* (disk, square, triangle, cross, ring) at a random position,
    scale and orientation, so that scale/translation/rotation augmentation matter;
  * a band-limited *texture*: a sum of plane waves at the class's own two frequencies,
    random phases; the frequencies are exported as the ground truth, per class, in the
    masks' unshifted FFT layout (both k and -k, since the image is real);
- white pixel noise and weak cues on part of the images keep the vanilla network well
  below 100% accuracy.

Everything is drawn from one seed; the result is cached as ``uint8`` under ``data/``.
"""
from __future__ import annotations

import numpy as np

from .utils import load_npz, save_npz_atomic

GENERATOR_VERSION = 1
CLASS_NAMES = ["disk", "square", "triangle", "cross", "ring"]
N_TRAIN, N_VAL = 4710, 1934  # the paper's Imagenette-5 split sizes
SIZES = (32, 64, 128)

# Texture frequencies per class, in cycles per image *at 32 px*; scaled with the size so
# that the texture sits at the same relative frequency (radius 0.25-0.4 of Nyquist).
_TEXTURE_K32 = [
    [(5, 0), (2, 4)],
    [(0, 5), (4, 3)],
    [(4, -4), (6, 1)],
    [(3, -5), (1, 6)],
    [(6, -2), (-4, 5)],
]

# Cue strengths: drawn per image as strength * U(0, 1) ** 0.5, so a share of images has
# both cues weak and the class is ambiguous under the noise.
_SHAPE_CONTRAST = 1.2
_TEXTURE_AMPLITUDE = 0.6
_BACKGROUND_STD = 0.5
_PIXEL_NOISE = 0.15
_DISPLAY_SCALE = 0.3  # maps the unit-scale image into [0, 1] around 0.5 (std ~0.2, as photographs)


def texture_frequencies(size: int) -> list[list[tuple[int, int]]]:
    """Per class, its planted (kx, ky) in cycles per image at ``size``."""
    scale = size // 32
    return [[(kx * scale, ky * scale) for kx, ky in cls] for cls in _TEXTURE_K32]


def ground_truth(size: int) -> np.ndarray:
    """(5, size, size) bool: the FFT bins (unshifted layout, index [ky, kx]) of each
    class's texture cue, both k and -k."""
    truth = np.zeros((len(CLASS_NAMES), size, size), dtype=bool)
    for c, freqs in enumerate(texture_frequencies(size)):
        for kx, ky in freqs:
            truth[c, ky % size, kx % size] = True
            truth[c, (-ky) % size, (-kx) % size] = True
    return truth


def _background(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Gaussian noise with a 1/f^2 power spectrum, unit standard deviation per image."""
    f = np.fft.fftfreq(size) * size
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    amplitude = 1.0 / np.maximum(radius, 1.0)
    amplitude[0, 0] = 0.0
    white = rng.standard_normal((n, size, size)).astype(np.float32)
    img = np.fft.ifft2(np.fft.fft2(white) * amplitude).real
    img /= img.std(axis=(1, 2), keepdims=True) + 1e-8
    return img.astype(np.float32)


def _shape_distance(label: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (in units of the shape's radius) to each class's shape, in the
    shape's own rotated frame (u, v); negative inside."""
    rho = np.sqrt(u**2 + v**2)
    angles = np.array([np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3])
    triangle = np.max([u * np.cos(a) + v * np.sin(a) for a in angles], axis=0) - 0.5
    cross = np.minimum(np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.33),
                       np.maximum(np.abs(u) - 0.33, np.abs(v) - 1.0))
    shapes = [
        rho - 0.85,                              # disk
        np.maximum(np.abs(u), np.abs(v)) - 0.75,  # square
        triangle,
        cross,
        np.abs(rho - 0.7) - 0.25,                # ring
    ]
    out = np.empty_like(u)
    for c, d in enumerate(shapes):
        sel = label == c
        out[sel] = d[sel]
    return out


def _shapes(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """Soft-edged class shapes at random position, scale and orientation (low-pass)."""
    n = len(labels)
    centre = rng.uniform(0.3, 0.7, (n, 2, 1, 1)) * size
    radius = rng.uniform(0.15, 0.3, (n, 1, 1)) * size
    theta = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = xx[None] - centre[:, 0], yy[None] - centre[:, 1]
    u = (np.cos(theta) * dx + np.sin(theta) * dy) / radius
    v = (-np.sin(theta) * dx + np.cos(theta) * dy) / radius
    dist = _shape_distance(np.broadcast_to(labels[:, None, None], u.shape), u, v)
    softness = 2.0 / radius  # about two pixels of edge: a low-frequency cue
    return (1.0 / (1.0 + np.exp(dist / softness))).astype(np.float32)


def _textures(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """Sum of the class's plane waves with random phases and relative amplitudes."""
    n = len(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    freqs = np.array(texture_frequencies(size), dtype=np.float32)[labels]  # (n, 2, 2)
    phase = rng.uniform(0, 2 * np.pi, (n, 2))
    weight = rng.uniform(0.5, 1.0, (n, 2))
    out = np.zeros((n, size, size), dtype=np.float32)
    for j in range(2):
        arg = 2 * np.pi * (freqs[:, j, 0, None, None] * xx + freqs[:, j, 1, None, None] * yy)
        out += weight[:, j, None, None] * np.cos(arg + phase[:, j, None, None])
    return out / np.sqrt(2.0)


def generate(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8, n x size x size) and their balanced labels."""
    if size not in SIZES:
        raise ValueError(f"synthetic size must be one of {SIZES}, got {size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASS_NAMES))
    images = np.empty((n, size, size), dtype=np.uint8)
    for start in range(0, n, 512):  # chunks keep memory flat at 128 px
        lab = labels[start:start + 512]
        m = len(lab)
        shape_strength = _SHAPE_CONTRAST * rng.uniform(0, 1, (m, 1, 1)) ** 0.5
        shape_sign = rng.choice([-1.0, 1.0], (m, 1, 1))
        texture_strength = _TEXTURE_AMPLITUDE * rng.uniform(0, 1, (m, 1, 1)) ** 0.5
        img = (_BACKGROUND_STD * _background(rng, m, size)
               + shape_sign * shape_strength * _shapes(rng, lab, size)
               + texture_strength * _textures(rng, lab, size)
               + _PIXEL_NOISE * rng.standard_normal((m, size, size)))
        pixels = np.clip(0.5 + _DISPLAY_SCALE * img, 0.0, 1.0)
        images[start:start + m] = np.round(pixels * 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def synthetic_arrays(size: int = 32, seed: int = 0, cache_dir=None) -> dict:
    """The data set's arrays, generated once and cached as ``synthetic-<size>-s<seed>-v<N>.npz``."""
    from .data import DATA_DIR

    cache_dir = DATA_DIR if cache_dir is None else cache_dir
    path = cache_dir / f"synthetic-{size}-s{seed}-v{GENERATOR_VERSION}.npz"
    if path.exists():
        return load_npz(path)
    x_train, y_train = generate(N_TRAIN, size, seed * 2 + 1)
    x_val, y_val = generate(N_VAL, size, seed * 2 + 2)
    arrays = dict(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
                  class_names=np.array(CLASS_NAMES), ground_truth=ground_truth(size))
    save_npz_atomic(path, **arrays)
    return arrays


def load_synthetic(size: int = 32, seed: int = 0):
    """The synthetic data set as a :class:`fm_core.data.Dataset` with its ground truth."""
    from .data import from_arrays
    from .errors import UserError

    if size not in SIZES:
        raise UserError(f"the synthetic data set comes in sizes {SIZES}, not {size}")
    a = synthetic_arrays(size, seed)
    return from_arrays("synthetic", a["x_train"], a["y_train"], a["x_val"], a["y_val"],
                       class_names=[str(c) for c in a["class_names"]],
                       ground_truth=a["ground_truth"].astype(bool),
                       meta={"generator_version": GENERATOR_VERSION, "seed": seed})

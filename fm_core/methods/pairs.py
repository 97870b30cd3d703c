"""The frequency pairs every peer method ranks: a real image's spectrum is symmetric
(the bins k and -k carry one real component), so a method scores each pair {k, -k} once
and its map gives both bins that score.
"""
from __future__ import annotations

import numpy as np
import torch

from fm_core.fourier import symmetric_part


def frequency_pairs(h: int, w: int) -> np.ndarray:
    """(P, 2) int: one bin (i, j) of every pair {k, -k}, taken from the half-spectrum
    j <= w // 2 (DC and, on even grids, the Nyquist bins are their own pair)."""
    i, j = np.meshgrid(np.arange(h), np.arange(w // 2 + 1), indexing="ij")
    i, j = i.ravel(), j.ravel()
    mi, mj = (-i) % h, (-j) % w
    # A pair lies in the half-spectrum twice only when its mirror does too (j = 0 or the
    # Nyquist column); then keep the bin with the smaller flat index.
    first = (mj > w // 2) | ((i * w + j) <= (mi * w + mj))
    return np.stack([i[first], j[first]], axis=1)


def pair_indicators(h: int, w: int, pairs: np.ndarray) -> torch.Tensor:
    """(P, H, W) float: 1 at each pair's two bins (one bin for a self-paired one)."""
    out = torch.zeros(len(pairs), h, w)
    rows = torch.arange(len(pairs))
    i, j = torch.as_tensor(pairs[:, 0]), torch.as_tensor(pairs[:, 1])
    out[rows, i, j] = 1.0
    out[rows, (-i) % h, (-j) % w] = 1.0
    return out


def mirrored(pair_values, h: int, w: int, pairs: np.ndarray) -> np.ndarray:
    """A value per pair spread to the full (H, W) grid: both bins of a pair get it."""
    out = np.zeros((h, w))
    i, j = pairs[:, 0], pairs[:, 1]
    out[i, j] = pair_values
    out[(-i) % h, (-j) % w] = pair_values
    return out


def pair_values(full: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(P,) the symmetric part of a full map at each pair: what acts on a real image."""
    return symmetric_part(np.asarray(full, dtype=np.float64))[pairs[:, 0], pairs[:, 1]]

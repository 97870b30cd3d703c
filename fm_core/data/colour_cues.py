"""The cue world in colour: known truth for masks of RGB networks (issue 38).

Each of the five classes is signalled by the cue world's low-frequency cue L (its two
plane waves per class, :func:`fm_core.data.synthetic.frequencies`), always the true
class's, carried by one colour channel (``carrier`` "red", "green" or "blue") or by all
three alike ("luminance"), over the cue world's 1/f^2 background and white noise, drawn
independently per channel. So the truth is a channel and a set of frequencies:
:func:`colour_truth`. Generated in memory from a seed (a test's or a script's data, not
the book's), float32 in [0, 1].
"""
from __future__ import annotations

import numpy as np

from fm_core.errors import UserError

from . import synthetic

COLOUR_CARRIERS = ("red", "green", "blue", "luminance")


def _channels(carrier: str) -> list[int]:
    if carrier not in COLOUR_CARRIERS:
        raise UserError(f"carrier must be one of {', '.join(COLOUR_CARRIERS)}, not {carrier!r}")
    return [0, 1, 2] if carrier == "luminance" else [COLOUR_CARRIERS.index(carrier)]


def generate_colour(n: int, size: int = 32, seed: int = 0, carrier: str = "red",
                    amplitude: float = synthetic.L_AMPLITUDE) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 3, size, size) float32 in [0, 1] and their balanced labels: the
    class's L cue at ``amplitude`` per wave in the ``carrier`` channel(s)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % synthetic.NUM_CLASSES).astype(np.int64)
    filt = synthetic._background_filter(size)
    background = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, 3, size, size))) * filt).real
    cue = synthetic._waves(rng, y, synthetic.frequencies(size, "low"), amplitude, size)
    x = background + synthetic.WHITE_NOISE * rng.standard_normal((n, 3, size, size))
    x[:, _channels(carrier)] += cue[:, None]
    return np.clip(0.5 + x, 0.0, 1.0).astype(np.float32), y


def colour_truth(size: int = 32, carrier: str = "red") -> np.ndarray:
    """(3, size, size) bool: the L bins of every class (k and -k, unshifted) in the
    channel(s) that carry them."""
    out = np.zeros((3, size, size), dtype=bool)
    out[_channels(carrier)] = synthetic.truth(size)["low"].any(0)
    return out

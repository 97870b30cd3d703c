"""How far a frequency map averaged over images can be trusted: its split-half
reliability (a map that changes with the draw of images ranks frequencies by chance)."""
from __future__ import annotations

import numpy as np


def split_half_reliability(per_image: np.ndarray) -> float | None:
    """How stable a map averaged over images is: the correlation r between the maps of the
    even- and the odd-numbered images, stepped up to the full count by Spearman-Brown
    (2r / (1 + r)) when r > 0 (a negative r is returned as it is: the halves disagree).
    ``per_image``: (bins, images). None with fewer than 4 images."""
    if per_image.shape[1] < 4:
        return None
    a, b = per_image[:, 0::2].mean(1), per_image[:, 1::2].mean(1)
    if a.std() == 0 or b.std() == 0:
        return None
    r = float(np.corrcoef(a, b)[0, 1])
    return round(2 * r / (1 + r), 4) if r > 0 else round(r, 4)

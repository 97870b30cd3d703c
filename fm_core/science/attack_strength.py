"""How strong an attack to use on a data set, chosen without any mask: the paper's eps
carried over by the data's pixel spread (:func:`paper_eps_pixel`), and the weakest multiple
of an eps whose PGD breaks a network (:func:`breaking_multiple`).

Kept apart from :mod:`fm_core.science.reversal` (which holds the reversal experiment's
attack success): that module is part of the key of the stored validation halves, reversal
selections and single-image masks (:data:`fm_core.store.pipeline.SPLIT_CODE`), so adding
to it would recompute them all; nothing stored depends on this one.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from fm_core.nets.attacks import pgd_attack
from fm_core.nets.evaluation import accuracy
from fm_core.profiles import PAPER_EPS_NORMALISED
from .experiments import pct

# The eps multiples tried, weakest first: the paper's eps up to eight times it
BREAKING_MULTIPLES = (1, 2, 3, 4, 6, 8)
# A network is *broken* below this accuracy (%): the paper's vanilla network is at 0% under
# its PGD, so "broken" asks for nearly that, with room for a few images PGD does not flip
BROKEN_BELOW = 10.0


def paper_eps_pixel(std: float) -> float:
    """The paper's eps (0.06 in normalised units: its code attacks normalised images) in
    [0, 1] pixel units for a data set whose pixel std is ``std``: the same attack relative
    to the images' spread (:func:`fm_core.nets.attacks.eps_normalised` is the inverse)."""
    return PAPER_EPS_NORMALISED * float(std)


def weakest_breaking(accuracy_at: Callable[[float], float], multiples: Sequence[float] = BREAKING_MULTIPLES,
                     below: float = BROKEN_BELOW) -> dict:
    """The search of :func:`breaking_multiple`, given ``accuracy_at(multiple) -> %``:
    multiples tried weakest first, stopping at the first whose accuracy is below
    ``below``. ``{"multiple": that multiple or None, "accuracy": {multiple: %} of those
    tried}``."""
    tried = {}
    for m in sorted(multiples):
        tried[m] = float(accuracy_at(m))
        if tried[m] < below:
            return {"multiple": m, "accuracy": tried}
    return {"multiple": None, "accuracy": tried}


def breaking_multiple(model, x: torch.Tensor, y, eps_pixel: float, multiples: Sequence[float] = BREAKING_MULTIPLES,
                      below: float = BROKEN_BELOW, steps: int = 10, seed: int = 0) -> dict:
    """The weakest multiple of ``eps_pixel`` whose ``steps``-step PGD (the paper's attack,
    :func:`fm_core.nets.attacks.pgd_attack`) brings ``model``'s accuracy on (x, y) below
    ``below`` %, and the accuracy at each multiple tried (:func:`weakest_breaking`)."""
    y = torch.as_tensor(y, dtype=torch.long).cpu()

    def accuracy_at(m: float) -> float:
        return pct(accuracy(model, pgd_attack(model, x, y, eps_pixel * m, steps=steps, seed=seed), y))

    return {"eps_pixel": float(eps_pixel), "below": float(below), **weakest_breaking(accuracy_at, multiples, below)}

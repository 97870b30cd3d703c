"""PGD through torchattacks, with eps stated in [0, 1] pixel units.

The paper's code states eps = 0.06 in normalised units; ``eps_normalised`` converts
between the two with the model's normalisation std, so both can be recorded."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import torchattacks


def eps_normalised(eps_pixel: float, std: float) -> float:
    """The pixel-unit eps expressed in the normalised units the paper's code used."""
    return eps_pixel / std


def make_pgd(model: torch.nn.Module, eps_pixel: float, steps: int = 10) -> torchattacks.PGD:
    """The paper's PGD: step eps/8, ``steps`` steps, random start, L-inf ball. Its random
    start draws from torch's global generator: seed that (as :func:`pgd_attack` does)."""
    import torchattacks  # here, not at the top: it takes ~1 s to import (scipy.stats among
    # its imports), which every book page would pay, most without running an attack

    return torchattacks.PGD(model, eps=eps_pixel, alpha=eps_pixel / 8, steps=steps, random_start=True)


def pgd_attack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps_pixel: float,
               steps: int = 10, batch_size: int = 256, seed: int = 0) -> torch.Tensor:
    """Adversarial images for (x, y), computed in batches; deterministic given ``seed``."""
    attack = make_pgd(model, eps_pixel, steps)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # the random start draws from torch's global generator
    try:
        return in_batches(attack, model, x, y, batch_size)
    finally:
        torch.random.set_rng_state(state)


def in_batches(attack, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``attack(xb, yb)`` over (x, y) in batches on the model's device; the images come
    back on the CPU (a copy of x when there are none)."""
    device = next(model.parameters()).device
    out = [attack(x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)).detach().cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else x.clone()

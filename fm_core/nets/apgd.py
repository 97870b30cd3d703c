"""APGD through torchattacks, eps in [0, 1] pixel units: the attack that checks a robust
network's PGD accuracy (Croce & Hein 2020, "Reliable evaluation of adversarial robustness
with an ensemble of diverse parameter-free attacks", ICML).

Why a second attack: the paper's 10-step PGD with a fixed step eps/8 can stall on a
network whose loss surface is flat or noisy near its images (gradient masking), and then
reports robustness that is not there. APGD adapts its step size, keeps the best point
found and restarts from random points; where its accuracy lies far below PGD's, PGD was
too weak. L-inf and the cross-entropy loss, as the paper's PGD.

Kept apart from :mod:`fm_core.nets.attacks`: that module is part of every network's key
(training imports it, :data:`fm_core.store.pipeline.NETWORK_CODE`), so an edit there would
retrain every stored network; this one is used only to evaluate them.
"""
from __future__ import annotations

import torch

from .attacks import in_batches

# The default strength: 50 steps and 2 restarts, at most 100 forward-backward passes per
# image (ten times the paper's PGD; a restart attacks only the images still right).
# AutoAttack's APGD-CE runs 100 steps and 5 restarts. Measured on the tiny grating net of
# tests/test_real_images.py (96 images, one CPU thread, eps 0.1): PGD-10 leaves 68.8%,
# APGD 50 x 2 26.0% in 1.0 s, APGD 100 x 5 26.0% in 3.5 s; at eps 0.12, 37.5%, 3.1% and
# 2.1% (0.7 s, 2.7 s). The cheaper default finds nearly all that the stronger one does.
APGD_STEPS = 50
APGD_RESTARTS = 2


def make_apgd(model: torch.nn.Module, eps_pixel: float, steps: int = APGD_STEPS, restarts: int = APGD_RESTARTS,
              seed: int = 0):
    """torchattacks' L-inf APGD with the cross-entropy loss on ``model``, which takes
    [0, 1] images (ours normalise inside, as for :func:`fm_core.nets.attacks.make_pgd`)."""
    import torchattacks  # here, not at the top: about a second of import time (see attacks.py)

    return torchattacks.APGD(model, norm="Linf", eps=eps_pixel, steps=steps, n_restarts=restarts, seed=seed,
                             loss="ce")


def apgd_attack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps_pixel: float,
                steps: int = APGD_STEPS, restarts: int = APGD_RESTARTS, seed: int = 0,
                batch_size: int = 256) -> torch.Tensor:
    """Adversarial images for (x, y) by APGD (Croce & Hein 2020), in batches; the same
    images for the same ``seed``. torchattacks seeds torch's global generators with it
    for the random starts; they are given back as they were."""
    attack = make_apgd(model, eps_pixel, steps, restarts, seed)
    y = torch.as_tensor(y, dtype=torch.long)
    cuda = torch.cuda.is_available()
    state = torch.random.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if cuda else None
    try:
        return in_batches(attack, model, x, y, batch_size)
    finally:
        torch.random.set_rng_state(state)
        if cuda:
            torch.cuda.set_rng_state_all(cuda_state)

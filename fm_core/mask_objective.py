"""The mask objective and the per-row optimiser that learns many masks at once.

Loss per image i (Karantzas et al. 2022, Eq. 2, with lambda divided by H*W as in the
authors' code)::

    exp([L(f(z_bar_i), y_i) - L(f(z_i), y_i)]^2) + lam / (H*W) * ||M_i||_1

The exp is continued linearly above a cap (see :func:`exp_penalty`). :func:`one_cycle`
and :func:`adam_update` reproduce torch's ``OneCycleLR`` and ``Adam`` for each row of a
(B, 1, H, W) parameter separately, so B masks learned together move exactly as B masks
learned alone (torch's optimisers keep one step count and one learning rate per tensor).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def invariance(logits: torch.Tensor, y: torch.Tensor, ref_loss: torch.Tensor) -> torch.Tensor:
    """(L(f(z_bar)) - L(f(z)))^2 per image; the loss takes exp of it."""
    return (F.cross_entropy(logits, y, reduction="none") - ref_loss) ** 2


# Above this squared loss change (2 nats) the exp penalty continues linearly; see exp_penalty.
EXP_CAP = 4.0


def exp_penalty(invariance: torch.Tensor, cap: float | None) -> torch.Tensor:
    """exp(invariance), the paper's penalty, continued linearly above ``cap`` (value and
    slope match there; ``None``: exp everywhere). Why: one image that the mask wrecks
    (a loss change of 4 nats gives exp(16) ~ 9e6) puts a gradient into Adam's second
    moment that shrinks every later step for thousands of steps, and the mask freezes
    half-learned; with the cap its gradient stays bounded."""
    if cap is None:
        return torch.exp(invariance)
    capped = invariance.clamp(max=cap)
    return torch.exp(capped) * (1.0 + (invariance - capped))


def sparsity_penalty(m: torch.Tensor, lam: float) -> torch.Tensor:
    """lam / (H*W) * ||M||_1 for each mask row of m (B, 1, H, W)."""
    h, w = m.shape[-2:]
    return lam / (h * w) * m.abs().flatten(1).sum(1)


def one_cycle(step: int, total_steps: int, max_lr: float, pct_start: float = 0.1,
              div_factor: float = 25.0, final_div_factor: float = 1e4,
              base_momentum: float = 0.85, max_momentum: float = 0.95) -> tuple[float, float]:
    """(lr, Adam beta1) for update ``step`` (0-based) of torch's ``OneCycleLR`` (cosine,
    two phases, momentum cycled): lr rises from max_lr/div_factor to max_lr over the first
    pct_start of the steps, then falls to max_lr/div_factor/final_div_factor, while beta1
    falls from max_momentum to base_momentum and rises back. Same formula as torch, so
    per-image schedules reproduce what ``OneCycleLR`` would do for each image alone."""
    initial_lr = max_lr / div_factor
    phases = ((float(pct_start * total_steps) - 1, initial_lr, max_lr, max_momentum, base_momentum),
              (total_steps - 1, max_lr, initial_lr / final_div_factor, base_momentum, max_momentum))
    start = 0.0
    for i, (end, lr0, lr1, mom0, mom1) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            # torch divides by zero when pct_start * total_steps == 1; treat it as phase end
            pct = (step - start) / (end - start) if end != start else 1.0
            cos_out = math.cos(math.pi * pct) + 1
            return lr1 + (lr0 - lr1) / 2.0 * cos_out, mom1 + (mom0 - mom1) / 2.0 * cos_out
        start = end
    raise AssertionError("unreachable")


ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8


def adam_update(param, grad, exp_avg, exp_avg_sq, steps, lrs, beta1s) -> None:
    """torch.optim.Adam's update (no weight decay), in place, with its own step count,
    lr and beta1 for each row of a (P, 1, H, W) parameter. Rows are independent, so row p
    moves exactly as it would under its own ``torch.optim.Adam``."""
    def per_row(values):
        return torch.tensor(values, dtype=param.dtype, device=param.device).view(-1, 1, 1, 1)

    beta1s = np.asarray(beta1s, dtype=np.float64)
    bias_correction1 = 1 - beta1s ** steps
    bias_correction2_sqrt = np.sqrt(1 - ADAM_BETA2 ** np.asarray(steps, dtype=np.float64))
    exp_avg.lerp_(grad, per_row(1 - beta1s))
    exp_avg_sq.mul_(ADAM_BETA2).addcmul_(grad, grad, value=1 - ADAM_BETA2)
    denom = (exp_avg_sq.sqrt() / per_row(bias_correction2_sqrt)).add_(ADAM_EPS)
    param.sub_(per_row(np.asarray(lrs) / bias_correction1) * (exp_avg / denom))

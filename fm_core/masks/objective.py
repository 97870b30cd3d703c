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

from fm_core.errors import UserError


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


def adam_coefficients(steps, lrs, beta1s) -> np.ndarray:
    """(3, P) float64: 1 - beta1, lr / (1 - beta1^t) and sqrt(1 - beta2^t) for update
    number t = ``steps[p]`` of row p, the per-row numbers of torch.optim.Adam's update."""
    beta1s = np.asarray(beta1s, dtype=np.float64)
    bias_correction1 = 1 - beta1s ** np.asarray(steps)
    bias_correction2_sqrt = np.sqrt(1 - ADAM_BETA2 ** np.asarray(steps, dtype=np.float64))
    return np.stack([1 - beta1s, np.asarray(lrs, dtype=np.float64) / bias_correction1, bias_correction2_sqrt])


def one_cycle_adam_table(max_steps: int, total_steps: int, max_lr: float) -> np.ndarray:
    """(3, max(max_steps, 1)) float64: :func:`adam_coefficients` of update t = 1..max_steps
    of one row under :func:`one_cycle` (update t uses the schedule's step t - 1). Computed
    once per run, so the learner looks rows' coefficients up on the device by step count
    instead of building them on the host every step."""
    steps = np.arange(1, max(max_steps, 1) + 1)
    lrs, beta1s = zip(*(one_cycle(int(t) - 1, total_steps, max_lr) for t in steps))
    return adam_coefficients(steps, lrs, beta1s)


def adam_step(param, grad, exp_avg, exp_avg_sq, one_minus_beta1, step_size, bias_correction2_sqrt,
              frozen=None) -> None:
    """torch.optim.Adam's update (no weight decay), in place, each per-row coefficient a
    (P, 1, 1, 1) tensor in ``param``'s dtype (see :func:`adam_coefficients`). Rows where
    the (P,) bool ``frozen`` is True keep their values exactly (finished masks)."""
    exp_avg.lerp_(grad, one_minus_beta1)
    exp_avg_sq.mul_(ADAM_BETA2).addcmul_(grad, grad, value=1 - ADAM_BETA2)
    denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(ADAM_EPS)
    update = step_size * (exp_avg / denom)
    if frozen is not None:
        update.masked_fill_(frozen.view(-1, 1, 1, 1), 0.0)
    param.sub_(update)


def adam_update(param, grad, exp_avg, exp_avg_sq, steps, lrs, beta1s) -> None:
    """torch.optim.Adam's update (no weight decay), in place, with its own step count,
    lr and beta1 for each row of a (P, 1, H, W) parameter. Rows are independent, so row p
    moves exactly as it would under its own ``torch.optim.Adam``."""
    coefficients = torch.tensor(adam_coefficients(steps, lrs, beta1s), dtype=param.dtype, device=param.device)
    adam_step(param, grad, exp_avg, exp_avg_sq, *coefficients.view(3, -1, 1, 1, 1))


# How the frozen network runs inside the mask learners. "fp32": in the model's own dtype
# (the default, and what every stored result uses). "bf16": its convolutions and matrix
# products under torch.autocast in bfloat16 (8-bit mantissa), the FFT and the mask in
# float32; masks then agree with fp32 ones only to within BF16_MASK_TOLERANCE.
PRECISIONS = ("fp32", "bf16")
# The stated tolerances: mean absolute difference from the fp32, contiguous masks, which
# ``fm bench`` reports (``agreement``) and tests/test_bench.py asserts. channels_last only
# reorders float additions, but Adam divides by the gradient's running size, so a bin
# whose gradient is near zero takes full steps in a direction rounding decides: a few
# bins differ a lot and the mean a little (quick profile, random weights, 30 steps:
# bf16 about 0.04, channels_last about 0.002; final predictions the same).
BF16_MASK_TOLERANCE = 0.05
CHANNELS_LAST_MASK_TOLERANCE = 0.01


def check_precision(precision: str, device) -> str:
    """``precision`` if the device can run it; a one-line UserError otherwise."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"bf16 is not supported on {torch.cuda.get_device_name(device)}; use fp32")
    return precision


def network_logits(core, z: torch.Tensor, precision: str = "fp32", channels_last: bool = False) -> torch.Tensor:
    """The frozen network's logits on (masked, normalised) images z, in z's dtype.
    ``channels_last``: z in that memory format (the core should be too; same numbers up
    to float rounding); ``precision``: see :data:`PRECISIONS`."""
    if channels_last:
        z = z.contiguous(memory_format=torch.channels_last)
    if precision == "fp32":
        return core(z)
    with torch.autocast(z.device.type, dtype=torch.bfloat16):
        logits = core(z)
    return logits.to(z.dtype)

"""Dataset (and class) masks: one Fourier mask for a set of images, or a whole lambda
path of them learned in one batched run.

A class mask is the same learner on one class's images. See :mod:`fm_core.masks.objective`
for the loss; :class:`fm_core.masks.DatasetMask` and :class:`fm_core.masks.LambdaPath` hold the
settings and their defaults and call :func:`run_lambda_path`, the engine.

The budget is counted in optimiser steps, not epochs, so the same call on 64 or on 5,000
images runs the same number of updates; learning stops once the mask has settled
(:func:`has_settled`). Every ``window`` steps the learner averages the mask over the
window (Polyak-Ruppert averaging: at a constant learning rate the iterate jitters around
its optimum, its average does not) and compares that average with the previous window's.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fm_core.nets.evaluation import EVAL_BATCH
from fm_core.nets.evaluation import accuracy as masked_accuracy
from fm_core.fourier import PARTS, SpectrumFilter, apply_part_mask, model_device_dtype, spectrum_reference
from .objective import adam_coefficients, adam_step, exp_penalty, one_cycle
from .result import MaskResult
from fm_core.nets.models import freeze
from fm_core.utils import progress_bar

# What the invariance term holds fixed (see invariance_terms):
#   batch_mean: the batch's mean loss (the authors' code, torch's mean reduction);
#   dataset_mean: the data set's mean loss, estimated without the batch's noise: the
#               squared change of a b-image mean is biased upward by Var/b, which
#               penalises bins whose removal moves single images' losses both ways;
#   per_image:  every image's loss (the paper's batch-1 objective, in expectation);
#   kl:         every image's output distribution (KL from the unmasked softmax).
INVARIANCES = ("batch_mean", "dataset_mean", "per_image", "kl")
# The objectives the book compares (kl is left out to keep the build within its time:
# mask_choice.compare_objectives(cfg, objectives=INVARIANCES) adds it)
COMPARED_INVARIANCES = ("batch_mean", "dataset_mean", "per_image")
# one_cycle: torch's OneCycleLR over the whole budget (the paper's); constant: a linear
# warm-up over the first window, then the constant rate, so the mask can settle early.
SCHEDULES = ("one_cycle", "constant")
# The paper's rule for an acceptable mask: masked accuracy within 99% of the unmasked
KEEP_RATIO = 0.99
# shared: one mask for every colour channel (the paper's: a network's frequency use, one
# map to read, and the same learner for 1 and C channels); per-channel: one mask per
# channel, (C, H, W), for where a channel carries a cue of its own
CHANNELS = ("shared", "per-channel")


def invariance_terms(logits: torch.Tensor, y: torch.Tensor, ref_loss: torch.Tensor, ref_logp: torch.Tensor,
                     invariance: str) -> torch.Tensor:
    """(P, k) changes that the penalty takes exp of, then averages over k: ``logits``
    (P, b, C) of the b images masked by each of P masks; ``ref_loss`` (b,) and
    ``ref_logp`` (b, C) unmasked. ``batch_mean``: k = 1, the squared change of the
    batch's mean loss; ``per_image``: k = b, each image's squared loss change (so the
    penalty is the batch mean of exp((l_i(x_bar) - l_i(x))^2), the paper's batch-1 loss in
    expectation); ``kl``: k = b, each image's KL(p(x) || p(x_bar))."""
    if invariance == "kl":
        logq = F.log_softmax(logits, dim=-1)
        return (ref_logp.exp() * (ref_logp - logq)).sum(-1)
    losses = F.cross_entropy(logits.flatten(0, 1), y.repeat(len(logits)), reduction="none").view(len(logits), -1)
    if invariance == "batch_mean":
        return ((losses.mean(-1) - ref_loss.mean()) ** 2)[:, None]
    if invariance == "dataset_mean":  # mean^2 - var/b: the unbiased estimate of (E change)^2
        change = losses - ref_loss
        b = change.shape[-1]
        return (change.mean(-1) ** 2 - change.var(-1) / b)[:, None] if b > 1 else (change ** 2)
    return (losses - ref_loss) ** 2


def has_settled(previous: np.ndarray, current: np.ndarray, tol: float) -> np.ndarray:
    """(P,) bool: whether each row's window-averaged mask moved by at most ``tol`` (mean
    absolute change over bins) since the previous window."""
    return np.abs(current - previous).reshape(len(current), -1).mean(1) <= tol


def run_lambda_path(model, x: torch.Tensor, y: torch.Tensor, *, lams, lr, max_steps: int | None,
                    epochs: int, batch_size: int, window: int | None, tol: float, patience: int, schedule: str,
                    keep_ratio: float, revert: bool, seed: int, exp_cap: float | None, invariance: str,
                    part: str, channels: str, start=None, penalty_weights=None,
                    progress: bool = True) -> MaskResult:
    """One dataset mask per lambda in ``lams`` (and per learning rate, if ``lr`` is a
    sequence: both broadcast to the rows), all learned in one run: mask row p is the row
    of the loss with ``lams[p]``, with its own Adam state and rate, on the same batches.
    x in [0, 1] of shape (N, C, H, W); for class masks pass one class's images. This is
    the engine: every setting is required here, and their defaults (the paper's) live in
    one place, :class:`fm_core.masks.DatasetMask` / :class:`fm_core.masks.LambdaPath`,
    whose calls (and :func:`fm_core.masks.learn_lambda_path`) check inputs and run this.

    Each row's loss on a batch is ``exp_penalty(invariance) + lam/(H*W) * ||M||_1`` (see
    :func:`invariance_terms` and :mod:`fm_core.masks.objective`), minimised by Adam under
    ``schedule`` for at most ``max_steps`` steps (``None``: ``epochs`` passes over x) of
    ``batch_size`` images drawn in shuffled epochs (generator seeded with ``seed``), M
    clamped to [0, 1] after each step. Every ``window`` steps (``None``: one epoch) the
    row's mask, averaged over the window, is compared with the previous window's average;
    a row is **converged** once ``patience`` consecutive windows moved it by at most
    ``tol`` (mean |change| per bin), and is then frozen (it leaves the batch). The run
    ends when every row has converged or the budget is spent. A row's result is its last
    window average; with ``revert`` (the paper's rule) it is instead the last average
    whose masked accuracy on x was >= ``keep_ratio`` x the unmasked accuracy, if any.
    ``kept`` records whether the result meets that accuracy criterion. ``start`` (H, W):
    the mask every row begins at, or (R, H, W) one per row (None: all ones, the paper's).
    ``penalty_weights`` (R, H, W) > 0: row r's L1 term weighs bin k by 1/W[r, k] (None:
    plain L1). ``part``: what the mask
    acts on, "both" (the paper's M * F), "amplitude" or "phase" (:data:`fm_core.fourier.PARTS`;
    the reference they mix toward is computed from x and ``seed``, and kept in ``extra``).
    ``channels``: one mask for all of x's channels ("shared", masks (R, H, W)) or one per
    channel ("per-channel", masks (R, C, H, W), part "both" only; :data:`CHANNELS`).

    The network is frozen (:func:`fm_core.nets.models.freeze`) and the work runs on its device."""
    if invariance not in INVARIANCES:
        raise ValueError(f"invariance must be one of {INVARIANCES}, got {invariance!r}")
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if channels not in CHANNELS or (channels == "per-channel" and part != "both"):
        raise ValueError(f"channels must be one of {CHANNELS} (per-channel with part 'both'), got {channels!r}")
    lams, lrs = (np.array(a, dtype=np.float64) for a in
                 np.broadcast_arrays(np.atleast_1d(np.asarray(lams, np.float64)), np.atleast_1d(np.asarray(lr, np.float64))))
    freeze(model)
    device, dtype = model_device_dtype(model)
    x, y = x.to(device, dtype), torch.as_tensor(y).to(device)
    n, (h, w), rows = len(x), x.shape[-2:], len(lams)
    c = 1 if channels == "shared" else x.shape[1]  # mask channels (1 broadcasts over x's)
    batch_size = min(batch_size, n)
    steps_per_epoch = max(1, n // batch_size)
    max_steps = epochs * steps_per_epoch if max_steps is None else max_steps
    window = steps_per_epoch if window is None else window
    with torch.no_grad():  # one unmasked pass gives the reference losses, outputs and accuracy
        z = model.normalize(x)
        logits = torch.cat([model.core(z[i:i + EVAL_BATCH]) for i in range(0, n, EVAL_BATCH)])
        ref_loss = F.cross_entropy(logits, y, reduction="none")
        ref_logp = F.log_softmax(logits, -1)
        accuracy_before = float((logits.argmax(1) == y).double().mean())
    reference = spectrum_reference(z, part, seed)

    def applied(mask):  # what the evaluation takes: the mask itself, or the mask with its part
        return mask if part == "both" else SpectrumFilter(mask, part, reference)

    # ``start``: warm starts along a regularisation path (as glmnet's, Friedman, Hastie &
    # Tibshirani 2010): a larger lambda's mask begins at a smaller one's, not at all ones
    if start is None:
        m = torch.ones(rows, c, h, w, device=device, dtype=dtype)
    else:  # one (H, W) start for every row (and channel), or one per row (R, H, W)
        start = torch.as_tensor(np.asarray(start), device=device, dtype=dtype)
        m = start.reshape(1, 1, h, w).repeat(rows, c, 1, 1) if start.dim() == 2 else \
            start.reshape(rows, 1, h, w).repeat(1, c, 1, 1)
    # randomized lasso (Meinshausen & Buehlmann 2010): each row's L1 weighs bin k by 1/W_k
    penalty = None if penalty_weights is None else 1.0 / torch.as_tensor(
        np.asarray(penalty_weights), device=device, dtype=dtype).reshape(rows, 1, h * w).repeat(1, c, 1).flatten(1)
    exp_avg, exp_avg_sq = torch.zeros_like(m), torch.zeros_like(m)
    lam_rows = torch.as_tensor(lams, device=device, dtype=dtype)
    frozen = torch.zeros(rows, dtype=torch.bool, device=device)
    generator = torch.Generator().manual_seed(seed)

    history = {"step": [], "sparsity": [], "invariance": [], "accuracy": [], "change": []}
    window_sum = torch.zeros_like(m)
    sums = torch.zeros(2, rows, device=device, dtype=torch.float64)  # invariance, sparsity per row
    previous = None
    settled = np.zeros(rows, np.int64)
    converged_at = np.zeros(rows, np.int64)  # 0: not converged
    kept = np.zeros(rows, bool)
    final, last = np.ones((rows, c, h, w), np.float32), np.ones((rows, c, h, w), np.float32)
    accuracy_after, accuracy_last = np.full(rows, np.nan), np.full(rows, np.nan)
    order, cursor, step = torch.randperm(n, generator=generator), 0, 0
    active = np.ones(rows, bool)  # rows still learning (host copy of ~frozen, updated per window)
    act = torch.arange(rows, device=device)  # their indices on the device
    bar = progress_bar(total=max_steps, progress=progress, desc=f"dataset mask{'s' if rows > 1 else ''}",
                       unit="step")
    while step < max_steps:
        if cursor + batch_size > n:  # a new epoch: reshuffle (drop the ragged tail)
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor:cursor + batch_size].to(device)
        cursor += batch_size
        zb = z[idx]
        m_act = m.index_select(0, act).requires_grad_(True)
        masked = apply_part_mask(zb.unsqueeze(0).expand(len(act), *zb.shape).flatten(0, 1),
                                 m_act.repeat_interleave(len(idx), 0), part, reference)
        logits = model.core(masked).view(len(act), len(idx), -1)
        change = invariance_terms(logits, y[idx], ref_loss[idx], ref_logp[idx], invariance)
        sparsity = m_act.flatten(1).mean(1)
        weighted = sparsity if penalty is None else (m_act.flatten(1) * penalty.index_select(0, act)).mean(1)
        # rows are independent, so the sum's gradient is each row's own
        loss = (exp_penalty(change, exp_cap).mean(-1) + lam_rows[act] * weighted).sum()
        (grad_act,) = torch.autograd.grad(loss, m_act)
        step += 1
        if schedule == "one_cycle":
            lr_beta = [one_cycle(step - 1, max_steps, r) for r in lrs]
        else:  # linear warm-up over the first window, then constant (Adam's default beta1)
            lr_beta = [(r * min(1.0, step / window), 0.9) for r in lrs]
        coefficients = torch.tensor(adam_coefficients([step] * rows, *zip(*lr_beta)), dtype=dtype, device=device)
        with torch.no_grad():
            grad = torch.zeros_like(m).index_copy_(0, act, grad_act)
            adam_step(m, grad, exp_avg, exp_avg_sq, *coefficients.view(3, -1, 1, 1, 1), frozen=frozen)
            m.clamp_(0.0, 1.0)
            window_sum += m
            sums.index_add_(1, act, torch.stack([change.detach().mean(-1), sparsity.detach()]).double())
        bar.update(1)
        if step % window and step < max_steps:
            continue
        # a window ends: the host reads the state once per window, not per step
        span = step - (history["step"][-1] if history["step"] else 0)
        average = (window_sum / span).clamp_(0.0, 1.0)
        window_sum.zero_()
        current = average.cpu().numpy()
        inv, sp = (sums / span).cpu().numpy()
        inv[~active], sp[~active] = np.nan, np.nan  # frozen rows took no step
        sums.zero_()
        # the paper's revert rule needs every window's accuracy; otherwise only the result's
        accs = np.array([masked_accuracy(model, x, y, applied(average[p:p + 1])) if active[p] and revert else np.nan
                         for p in range(rows)])
        moved = np.full(rows, np.nan) if previous is None else \
            np.abs(current - previous).reshape(rows, -1).mean(1)
        for p in np.flatnonzero(active):
            last[p], accuracy_last[p] = current[p], accs[p]
            if revert and accs[p] >= keep_ratio * accuracy_before:
                kept[p], final[p], accuracy_after[p] = True, current[p], accs[p]
        if previous is not None:
            ok = has_settled(previous, current, tol) & active
            settled = np.where(ok, settled + 1, 0)
            newly = (settled >= patience) & (converged_at == 0) & active
            converged_at[newly] = step
            frozen |= torch.as_tensor(newly, device=device)
            active = ~frozen.cpu().numpy()
            act = torch.as_tensor(np.flatnonzero(active), device=device)
        previous = current
        for key, value in (("step", step), ("sparsity", sp), ("invariance", inv), ("accuracy", accs),
                           ("change", moved)):
            history[key].append(value)
        bar.set_postfix(sparsity=f"{np.nanmean(sp):.4f}", converged=f"{int((converged_at > 0).sum())}/{rows}")
        if frozen.all():
            break
    bar.close()

    settings = dict(learner="dataset", lams=lams.tolist(), lrs=lrs.tolist(), max_steps=max_steps,
                    batch_size=batch_size, window=window, tol=tol, patience=patience, schedule=schedule,
                    keep_ratio=keep_ratio, revert=revert,
                    seed=seed, exp_cap=exp_cap, invariance=invariance, part=part, images=n, warm_start=start is not None,
                    penalty_weighted=penalty_weights is not None,
                    **({"channels": channels} if channels != "shared" else {}))  # the default, as results always had
    steps_run = np.where(converged_at > 0, converged_at, step)
    use_last = ~kept | (not revert)
    final[use_last], accuracy_after[use_last] = last[use_last], accuracy_last[use_last]
    accuracy_after = np.array([a if a == a else
                               masked_accuracy(model, x, y, applied(torch.from_numpy(f[None]).to(device, dtype)))
                               for a, f in zip(accuracy_after, final)])
    kept = accuracy_after >= keep_ratio * accuracy_before
    return MaskResult(
        masks=final[:, 0] if channels == "shared" else final,
        steps=steps_run.astype(np.int64),
        kept=kept,
        converged=converged_at > 0,
        accuracy_before=accuracy_before,
        accuracy_after=float(accuracy_after[0]) if rows == 1 else float("nan"),
        history={"step": np.asarray(history["step"], np.float64),
                 **{k: np.asarray(v, np.float64).reshape(len(history["step"]), rows) if rows > 1
                    else np.asarray(v, np.float64).reshape(-1) for k, v in history.items() if k != "step"}},
        settings=settings,
        extra={"lams": lams, "lrs": lrs, "accuracy_after": accuracy_after,
               **({} if reference is None else {"reference": reference.cpu().numpy()})},
    )

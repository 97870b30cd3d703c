"""Dataset (and class) masks: one Fourier mask for a set of images.

A class mask is the same learner on one class's images. See :mod:`fm_core.mask_objective`
for the loss; :class:`fm_core.masks.DatasetMask` is the configured, callable face of
:func:`learn_dataset_mask`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .evaluation import accuracy as masked_accuracy
from .evaluation import normalised_losses
from .fourier import FourierMask, model_device_dtype
from .mask_objective import EXP_CAP, exp_penalty, invariance as per_image_invariance, sparsity_penalty
from .mask_result import MaskResult
from .models import freeze
from .utils import progress_bar

INVARIANCES = ("batch_mean", "per_image")


def learn_dataset_mask(model, x: torch.Tensor, y: torch.Tensor, lam: float = 0.2, lr: float = 1e-3,
                       epochs: int = 100, batch_size: int = 1, patience: int = 7, tol: float = 1e-5,
                       keep_ratio: float = 0.99, seed: int = 0, exp_cap: float | None = EXP_CAP,
                       invariance: str = "batch_mean", progress: bool = True) -> MaskResult:
    """One mask M for all of (x, y), x in [0, 1] of shape (N, 1, H, W); for a class mask pass
    one class's images. Defaults are the paper's (lambda 0.2, lr 1e-3, batch 1, <= 100 epochs).

    Each batch's loss is exp((L(x_bar) - L(x))^2) (continued linearly above ``exp_cap``,
    see ``_exp_penalty``; ``None``: the paper's exp) plus lam/(H*W) * ||M||_1, where L is
    the batch's mean cross-entropy (``invariance="batch_mean"``, what the authors' code
    computes with torch's default mean reduction; identical to the paper's per-image loss
    at its batch size 1). With ``invariance="per_image"`` the invariance term is instead
    the mean over the batch of exp((l_i(x_bar) - l_i(x))^2): every image's loss must stay
    put, as in the paper's batch-1 steps (equal to them in expectation). The loss is minimised by Adam under torch's one-cycle schedule (max lr ``lr``,
    pct_start 0.1, over epochs * batches steps), M clamped to [0, 1] after each step, data
    order shuffled by a generator seeded with ``seed``. After each epoch the masked
    accuracy is measured; the latest mask with accuracy >= keep_ratio * the unmasked
    accuracy is kept. Learning stops once ``patience`` consecutive epochs changed the
    epoch's mean sparsity by <= ``tol`` (patience 0: never early). Unlike the authors'
    code, which counts only epochs that meet the accuracy criterion, every epoch counts.

    The network is frozen (:func:`fm_core.models.freeze`) and the work runs on its device."""
    if invariance not in INVARIANCES:
        raise ValueError(f"invariance must be one of {INVARIANCES}, got {invariance!r}")
    freeze(model)
    device, dtype = model_device_dtype(model)
    x, y = x.to(device, dtype), torch.as_tensor(y).to(device)
    n, (h, w) = len(x), x.shape[-2:]
    with torch.no_grad():
        z = model.normalize(x)
    ref_loss = normalised_losses(model, z, y)
    accuracy_before = masked_accuracy(model, x, y)

    mask = FourierMask((h, w)).to(device, dtype)
    n_batches = math.ceil(n / batch_size)
    optimizer = torch.optim.Adam(mask.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * n_batches,
                                                   pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)

    history = {"loss": [], "invariance": [], "sparsity": [], "accuracy": []}
    kept_mask, kept_epoch, stalled = None, 0, 0
    bar = progress_bar(range(1, epochs + 1), progress=progress, desc="dataset mask", unit="epoch")
    for epoch in bar:
        order = torch.randperm(n, generator=generator).to(device)
        # summed on the device in float64 (what Python's float sum of .item() values gives),
        # read once per epoch: no host sync inside the epoch
        sums = torch.zeros(3, device=device, dtype=torch.float64)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            logits = model.core(mask(z[idx]))
            if invariance == "batch_mean":  # the batch's mean loss must stay unchanged
                change = (F.cross_entropy(logits, y[idx]) - ref_loss[idx].mean()) ** 2
            else:  # every image's loss must stay unchanged
                change = per_image_invariance(logits, y[idx], ref_loss[idx])
            loss = exp_penalty(change, exp_cap).mean() + sparsity_penalty(mask.weight, lam)[0]
            optimizer.zero_grad()
            loss.backward()
            # sparsity before the step, as the authors log it
            sums += torch.stack([loss.detach(), change.detach().mean(), mask.weight.detach().mean()]).double()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                mask.weight.clamp_(0.0, 1.0)
        for key, total in zip(("loss", "invariance", "sparsity"), sums.tolist()):
            history[key].append(total / n_batches)
        accuracy = masked_accuracy(model, x, y, mask.weight.detach())
        history["accuracy"].append(accuracy)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", sparsity=f"{history['sparsity'][-1]:.4f}",
                        acc=f"{accuracy:.4f}")

        if accuracy >= keep_ratio * accuracy_before:
            kept_mask, kept_epoch = mask.weight.detach().clone(), epoch
        if epoch > 1 and abs(history["sparsity"][-1] - history["sparsity"][-2]) <= tol:
            stalled += 1
        else:
            stalled = 0
        if patience > 0 and stalled >= patience:
            break
    bar.close()

    kept = kept_mask is not None
    final = kept_mask if kept else mask.weight.detach()
    settings = dict(learner="dataset", lam=lam, lr=lr, epochs=epochs, batch_size=batch_size,
                    patience=patience, tol=tol, keep_ratio=keep_ratio, seed=seed, exp_cap=exp_cap,
                    invariance=invariance, epoch_kept=kept_epoch if kept else epoch, images=n)
    return MaskResult(
        masks=final[0].cpu().numpy().astype(np.float32),
        steps=np.array([epoch], np.int64),
        kept=np.array([kept]),
        accuracy_before=accuracy_before,
        accuracy_after=masked_accuracy(model, x, y, final),
        history={k: np.asarray(v, np.float64) for k, v in history.items()},
        settings=settings,
    )

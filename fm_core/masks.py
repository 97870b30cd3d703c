"""Fourier masks (Karantzas et al. 2022): the mask layer and the two ways to learn masks.

A mask M (real, H x W, values in [0, 1]) filters a *normalised* image z as
``z_bar = Re IFFT2(M * FFT2(z))``. Masks are stored in the unshifted FFT layout (DC at
[0, 0]) and shown fftshifted (:func:`centered`). A mask is learned for a frozen network f
with the loss

    exp([L(f(z_bar), y) - L(f(z), y)]^2) + lam / (H*W) * ||M||_1        (L: cross-entropy)

starting from M = 1 and clamping M to [0, 1] after every optimiser step. The first term
keeps the network's loss where it was (invariance), the second removes frequencies
(sparsity); dividing lambda by H*W, the initial L1 norm, follows the authors' code.

- :func:`learn_dataset_mask`: one mask for a set of images (a class mask is the same on
  one class's images).
- :func:`learn_image_masks`: one mask per image, many images learned at once, each with
  its own stopping rule, step count and learning-rate schedule; resumable.
- :func:`select_reversal_images` and :func:`reversal_accuracies`: the adversarial
  reversal experiment (Table 2 of the paper).

Every function here runs the network as ``model.core(mask(model.normalize(x)))`` and so
ignores whatever sits in ``model.mask``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attacks import pgd_attack
from .errors import UserError
from .models import freeze
from .utils import load_npz, progress_bar, save_npz_atomic, stable_hash

MASKS_VERSION = 2  # bump when mask learning changes its results: cached masks are relearned
COMPLEMENT_THRESHOLD = 1e-8  # the paper's Mc: 1 where M < 1e-8
EVAL_BATCH = 256  # images per forward pass when only predictions or losses are needed


# --------------------------------------------------------------------------- mask layer

def _model_device_dtype(model) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters())
    return p.device, p.dtype


def _as_mask_batch(m) -> torch.Tensor:
    """(H, W) -> (1, 1, H, W); (B, H, W) -> (B, 1, H, W); 4-d arrays unchanged."""
    m = torch.as_tensor(m)
    if m.dim() == 2:
        return m[None, None]
    if m.dim() == 3:
        return m[:, None]
    if m.dim() == 4:
        return m
    raise ValueError(f"a mask must have shape (H, W), (B, H, W) or (B, 1, H, W), got {tuple(m.shape)}")


def apply_fourier_mask(z: torch.Tensor, m) -> torch.Tensor:
    """``Re IFFT2(m * FFT2(z))`` over the last two dimensions.

    z: (B, 1, H, W) or (B, H, W). m: unshifted, one mask for every image, (H, W) or
    (1, 1, H, W), or one per image, (B, H, W) or (B, 1, H, W); NumPy arrays are accepted."""
    # Both go to (B, 1, H, W) so that mask b always meets image b (never broadcasting
    # a (B, H, W) mask across the channel axis).
    m = _as_mask_batch(m).to(device=z.device, dtype=z.dtype)
    flat = z.dim() == 3
    if flat:
        z = z.unsqueeze(1)
    out = torch.fft.ifft2(m * torch.fft.fft2(z)).real
    return out.squeeze(1) if flat else out


class FourierMask(nn.Module):
    """The mask layer: a learnable ``weight`` of shape (n_masks, 1, H, W), initialised to ones.

    One mask is shared by every image; n_masks = B pairs mask b with image b. It fits the
    ``model.mask`` slot of :class:`fm_core.models.MaskedClassifier`, where it sees the
    normalised image."""

    def __init__(self, size: int | tuple[int, int], n_masks: int = 1):
        super().__init__()
        h, w = (size, size) if isinstance(size, int) else size
        self.weight = nn.Parameter(torch.ones(n_masks, 1, h, w))

    @classmethod
    def from_array(cls, m) -> "FourierMask":
        """A layer holding the given mask(s): (H, W), (B, H, W) or (B, 1, H, W), unshifted."""
        weight = _as_mask_batch(m).to(torch.get_default_dtype())
        layer = cls(tuple(weight.shape[-2:]), n_masks=weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(weight)
        return layer

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return apply_fourier_mask(z, self.weight)


def masked_logits(model, x: torch.Tensor, m) -> torch.Tensor:
    """The network's logits on the masked image: ``core(mask(normalize(x)))`` for x in [0, 1]."""
    return model.core(apply_fourier_mask(model.normalize(x), m))


@torch.no_grad()
def filter_images(model, x: torch.Tensor, m) -> torch.Tensor:
    """The masked images in pixel space, on the CPU, for display (the mask acts on the
    normalised image). m as in :func:`apply_fourier_mask`."""
    x = x.to(*_model_device_dtype(model))
    return (apply_fourier_mask(model.normalize(x), m) * model.std + model.mean).cpu()


def complement(m):
    """The paper's complementary mask Mc: 1 where M < 1e-8 (removed frequencies), else 0."""
    if isinstance(m, torch.Tensor):
        return (m < COMPLEMENT_THRESHOLD).to(m.dtype if m.is_floating_point() else torch.float32)
    m = np.asarray(m)
    return (m < COMPLEMENT_THRESHOLD).astype(m.dtype if m.dtype.kind == "f" else np.float32)


def centered(m):
    """The mask with the DC term moved to the centre (fftshift), for display."""
    if isinstance(m, torch.Tensor):
        return torch.fft.fftshift(m, dim=(-2, -1))
    return np.fft.fftshift(m, axes=(-2, -1))


def symmetric_part(m):
    """(M(k) + M(-k)) / 2, where -k is the index (-i mod H, -j mod W).

    A real image's spectrum is Hermitian, so taking the real part of the inverse FFT
    means the filter actually applied is this symmetric part of M, not M itself."""
    h, w = m.shape[-2:]
    neg_i, neg_j = (-np.arange(h)) % h, (-np.arange(w)) % w
    if isinstance(m, torch.Tensor):
        neg_i, neg_j = torch.as_tensor(neg_i, device=m.device), torch.as_tensor(neg_j, device=m.device)
    return (m + m[..., neg_i, :][..., neg_j]) / 2


# ------------------------------------------------------------ the loss and its optimiser

def _invariance(logits: torch.Tensor, y: torch.Tensor, ref_loss: torch.Tensor) -> torch.Tensor:
    """(L(f(z_bar)) - L(f(z)))^2 per image; the loss takes exp of it."""
    return (F.cross_entropy(logits, y, reduction="none") - ref_loss) ** 2


# Above this squared loss change (2 nats) the exp penalty continues linearly; see _exp_penalty.
EXP_CAP = 4.0


def _exp_penalty(invariance: torch.Tensor, cap: float | None) -> torch.Tensor:
    """exp(invariance), the paper's penalty, continued linearly above ``cap`` (value and
    slope match there; ``None``: exp everywhere). Why: one image that the mask wrecks
    (a loss change of 4 nats gives exp(16) ~ 9e6) puts a gradient into Adam's second
    moment that shrinks every later step for thousands of steps, and the mask freezes
    half-learned; with the cap its gradient stays bounded."""
    if cap is None:
        return torch.exp(invariance)
    capped = invariance.clamp(max=cap)
    return torch.exp(capped) * (1.0 + (invariance - capped))


def _sparsity_penalty(m: torch.Tensor, lam: float) -> torch.Tensor:
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


def _adam_update(param, grad, exp_avg, exp_avg_sq, steps, lrs, beta1s) -> None:
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


# ------------------------------------------------------------------- shared evaluation

@torch.no_grad()
def _predict(model, x: torch.Tensor, masks=None, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Predictions (CPU, int64) of the network on x, unmasked or masked by ``masks``: one
    shared mask ((H, W) or (1, 1, H, W)) or one per image ((N, H, W) or (N, 1, H, W))."""
    device, dtype = _model_device_dtype(model)
    if masks is not None:
        masks = _as_mask_batch(masks)
    preds = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device, dtype)
        if masks is None:
            logits = model.core(model.normalize(xb))
        else:
            mb = masks if masks.shape[0] == 1 else masks[i:i + batch_size]
            logits = masked_logits(model, xb, mb.to(device, dtype))
        preds.append(logits.argmax(1).cpu())
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)


def masked_accuracy(model, x: torch.Tensor, y, mask=None) -> float:
    """Accuracy (fraction) of the network on x with one Fourier mask (H, W) applied
    (``None``: unmasked)."""
    mask = None if mask is None else torch.as_tensor(mask)
    return float((_predict(model, x, mask) == torch.as_tensor(y).cpu()).double().mean())


@torch.no_grad()
def _unmasked_losses(model, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image cross-entropy L(f(z), y) of the normalised images z: the invariance
    reference. Computed in fixed chunks, independent of any pool size."""
    if len(z) == 0:
        return torch.zeros(0, device=z.device, dtype=z.dtype)
    return torch.cat([F.cross_entropy(model.core(z[i:i + EVAL_BATCH]), y[i:i + EVAL_BATCH],
                                      reduction="none") for i in range(0, len(z), EVAL_BATCH)])


# ------------------------------------------------------------------------ dataset masks

@dataclass
class DatasetMaskResult:
    """A learned dataset (or class) mask.

    ``mask``: (H, W) float32 in [0, 1], unshifted. ``kept``: True when the mask met the
    accuracy criterion; False means no epoch did and ``mask`` is simply the last one.
    Accuracies are fractions in [0, 1]; ``history`` holds per-epoch lists ``loss``,
    ``invariance`` and ``sparsity`` (epoch means over its batches; sparsity is the mean
    mask value) and ``accuracy`` (masked, after the epoch)."""

    mask: np.ndarray
    kept: bool
    epoch: int  # the (1-based) epoch that produced ``mask``
    accuracy_before: float
    accuracy_after: float
    epochs_run: int
    history: dict = field(default_factory=dict)


def learn_dataset_mask(model, x: torch.Tensor, y: torch.Tensor, lam: float = 0.2, lr: float = 1e-3,
                       epochs: int = 100, batch_size: int = 1, patience: int = 7, tol: float = 1e-5,
                       keep_ratio: float = 0.99, seed: int = 0, exp_cap: float | None = EXP_CAP,
                       batch_invariance: bool = True, progress: bool = True) -> DatasetMaskResult:
    """One mask M for all of (x, y), x in [0, 1] of shape (N, 1, H, W); for a class mask pass
    one class's images. Defaults are the paper's (lambda 0.2, lr 1e-3, batch 1, <= 100 epochs).

    Each batch's loss is exp((L(x_bar) - L(x))^2) (continued linearly above ``exp_cap``,
    see ``_exp_penalty``; ``None``: the paper's exp) plus lam/(H*W) * ||M||_1, where L is
    the batch's mean cross-entropy (``batch_invariance=True``, what the authors' code
    computes with torch's default mean reduction; identical to the paper's per-image loss
    at its batch size 1). With ``batch_invariance=False`` the invariance term is instead
    the mean over the batch of exp((l_i(x_bar) - l_i(x))^2): every image's loss must stay
    put, and on the quick profile the vanilla network's mask then keeps ~89% of all
    frequencies (mean mask 0.886, planted-frequency AUROC 0.60 against 0.965 with the
    batch mean). The loss is minimised by Adam under torch's one-cycle schedule (max lr ``lr``,
    pct_start 0.1, over epochs * batches steps), M clamped to [0, 1] after each step, data
    order shuffled by a generator seeded with ``seed``. After each epoch the masked
    accuracy is measured; the latest mask with accuracy >= keep_ratio * the unmasked
    accuracy is kept. Learning stops once ``patience`` consecutive epochs changed the
    epoch's mean sparsity by <= ``tol`` (patience 0: never early). Unlike the authors'
    code, which counts only epochs that meet the accuracy criterion, every epoch counts.

    The network is frozen (:func:`fm_core.models.freeze`) and the work runs on its device."""
    freeze(model)
    device, dtype = _model_device_dtype(model)
    x, y = x.to(device, dtype), torch.as_tensor(y).to(device)
    n, (h, w) = len(x), x.shape[-2:]
    with torch.no_grad():
        z = model.normalize(x)
    ref_loss = _unmasked_losses(model, z, y)
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
        sums = {"loss": 0.0, "invariance": 0.0, "sparsity": 0.0}
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            logits = model.core(mask(z[idx]))
            if batch_invariance:  # the batch's mean loss must stay unchanged
                invariance = (F.cross_entropy(logits, y[idx]) - ref_loss[idx].mean()) ** 2
            else:  # every image's loss must stay unchanged
                invariance = _invariance(logits, y[idx], ref_loss[idx])
            loss = _exp_penalty(invariance, exp_cap).mean() + _sparsity_penalty(mask.weight, lam)[0]
            optimizer.zero_grad()
            loss.backward()
            sums["loss"] += loss.item()
            sums["invariance"] += invariance.mean().item()
            sums["sparsity"] += mask.weight.detach().mean().item()  # before the step, as the authors log it
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                mask.weight.clamp_(0.0, 1.0)
        for key, total in sums.items():
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
    return DatasetMaskResult(
        mask=final[0, 0].cpu().numpy().astype(np.float32),
        kept=kept,
        epoch=kept_epoch if kept else epoch,
        accuracy_before=accuracy_before,
        accuracy_after=masked_accuracy(model, x, y, final),
        epochs_run=epoch,
        history=history,
    )


# ------------------------------------------------------------------- single-image masks

CHECKPOINT_FORMAT = "fm_core.image_masks_checkpoint/1"


class _ImageMaskRun:
    """The whole state of :func:`learn_image_masks`: finished results, the active pool
    (one row per image being learned: its mask, Adam moments and stopping counters) and
    the next image to admit. Everything a resumed run needs, and nothing else."""

    def __init__(self, n: int, h: int, w: int, device, dtype):
        self.device, self.dtype = device, dtype
        # results, per image
        self.masks = np.zeros((n, h, w), np.float32)
        self.final_predictions = np.full(n, -1, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.done = np.zeros(n, bool)
        # the pool, per active row
        self.idx = np.zeros(0, np.int64)  # which image
        self.t = np.zeros(0, np.int64)  # optimiser steps taken
        self.stall = np.zeros(0, np.int64)  # consecutive steps meeting the stopping criterion
        self.prev_inv = np.zeros(0, np.float64)  # invariance and sparsity one step earlier
        self.prev_sp = np.zeros(0, np.float64)
        self.m = torch.zeros(0, 1, h, w, device=device, dtype=dtype)
        self.exp_avg = torch.zeros_like(self.m)
        self.exp_avg_sq = torch.zeros_like(self.m)
        self.next_image = 0
        self.iteration = 0

    def admit(self, batch_size: int) -> None:
        """Fill the pool up to ``batch_size`` rows with the next images, masks at ones."""
        k = min(batch_size - len(self.idx), len(self.done) - self.next_image)
        if k <= 0:
            return
        self.idx = np.concatenate([self.idx, np.arange(self.next_image, self.next_image + k)])
        self.next_image += k
        self.t = np.concatenate([self.t, np.zeros(k, np.int64)])
        self.stall = np.concatenate([self.stall, np.zeros(k, np.int64)])
        self.prev_inv = np.concatenate([self.prev_inv, np.full(k, np.nan)])  # nothing to compare yet
        self.prev_sp = np.concatenate([self.prev_sp, np.full(k, np.nan)])
        shape = (k, *self.m.shape[1:])
        self.m = torch.cat([self.m, torch.ones(shape, device=self.device, dtype=self.dtype)])
        self.exp_avg = torch.cat([self.exp_avg, torch.zeros(shape, device=self.device, dtype=self.dtype)])
        self.exp_avg_sq = torch.cat([self.exp_avg_sq, torch.zeros(shape, device=self.device, dtype=self.dtype)])

    def keep_rows(self, keep: np.ndarray) -> None:
        """Drop the pool rows where ``keep`` is False (finished images leave the batch)."""
        rows = torch.as_tensor(np.flatnonzero(keep), device=self.device)
        for name in ("idx", "t", "stall", "prev_inv", "prev_sp"):
            setattr(self, name, getattr(self, name)[keep])
        for name in ("m", "exp_avg", "exp_avg_sq"):
            setattr(self, name, getattr(self, name).index_select(0, rows))

    ARRAYS = ("masks", "final_predictions", "steps", "done", "idx", "t", "stall", "prev_inv", "prev_sp")
    TENSORS = ("m", "exp_avg", "exp_avg_sq")

    def save(self, path, fingerprint: str) -> None:
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        arrays.update({name: getattr(self, name).cpu().numpy() for name in self.TENSORS})
        save_npz_atomic(path, format=np.array(CHECKPOINT_FORMAT), fingerprint=np.array(fingerprint),
                        next_image=np.array(self.next_image), iteration=np.array(self.iteration), **arrays)

    def load(self, path, fingerprint: str) -> None:
        try:
            saved = load_npz(path)
            ok = str(saved["format"]) == CHECKPOINT_FORMAT
        except Exception as exc:  # truncated, not an npz, holds pickles, lacks keys
            raise UserError(f"cannot read the checkpoint {path} ({type(exc).__name__}); delete it to start over") from None
        if not ok or str(saved["fingerprint"]) != fingerprint:
            raise UserError(f"the checkpoint {path} was written for other arguments, data or network; "
                            "delete it or pass another checkpoint path")
        for name in self.ARRAYS:
            setattr(self, name, saved[name])
        for name in self.TENSORS:
            setattr(self, name, torch.as_tensor(saved[name]).to(self.device, self.dtype))
        self.next_image, self.iteration = int(saved["next_image"]), int(saved["iteration"])


def _fingerprint(model, x: torch.Tensor, targets: torch.Tensor, settings: dict) -> str:
    """A hash of everything that determines the masks: settings, images, targets, weights."""
    digest = hashlib.sha256(stable_hash(settings, length=64).encode())
    tensors = [("x", x), ("targets", targets), ("mean", model.mean), ("std", model.std)]
    tensors += sorted(model.core.state_dict().items())
    for name, t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def learn_image_masks(model, x: torch.Tensor, targets=None, lam: float = 0.07, lr: float = 0.2,
                      max_steps: int = 20_000, patience: int = 300, batch_size: int = 64,
                      schedule_steps: int | None = None, inv_tol: float = 1e-6,
                      sparsity_tol: float = 1e-5, checkpoint=None, checkpoint_every: int = 50,
                      exp_cap: float | None = EXP_CAP, progress: bool = True) -> dict:
    """One mask per image of x (N, 1, H, W) in [0, 1]. Defaults are the paper's
    (lambda 0.07, lr 0.2 one-cycle, <= 20,000 steps, patience 300).

    Image i's loss is exp((l_i(x_bar_i) - l_i(x_i))^2) + lam/(H*W) * ||M_i||_1, with l_i the
    cross-entropy against ``targets[i]`` (default: the network's own prediction on the
    unmasked image); above (l_i(x_bar_i) - l_i(x_i))^2 = ``exp_cap`` the exp continues
    linearly (see ``_exp_penalty``; ``exp_cap=None``: the paper's exp everywhere). Up to
    ``batch_size`` images are learned at once as the rows of a
    (B, 1, H, W) mask: the loss is the sum of the rows' losses, so each row's gradient is
    its own image's, and each row has its own Adam step count and one-cycle learning rate
    (cosine, pct_start 0.1, as torch's ``OneCycleLR`` over ``schedule_steps`` steps, default
    ``max_steps``). A finished image leaves the pool and the next image joins it, so the
    result for image i is that of learning it alone (up to float rounding).

    Stopping: after each step the current mask is evaluated; an image counts a step when
    its masked prediction equals its target, and its invariance term (l_i(x_bar) -
    l_i(x))^2 and its sparsity (mean of M_i) changed by <= ``inv_tol`` and
    <= ``sparsity_tol`` since the previous step. It stops after ``patience`` consecutive
    such steps, or after ``max_steps`` steps; ``patience=0`` always runs ``max_steps``.
    (The authors' code compared the losses logged before each step with the prediction
    after it; here all three are measured on the same mask, the one returned.)

    Schedule note: the authors' code built its one-cycle schedule for 4 million steps
    (20,000 epochs x 200 steps per epoch) while stopping within 20,000, so its learning rate
    only warmed up from 0.008 to about 0.009 and never reached 0.2. Our default
    ``schedule_steps=max_steps`` makes the cycle rise to ``lr`` and anneal, as the paper
    describes; ``schedule_steps=4_000_000`` reproduces the authors' behaviour.

    Resume: with ``checkpoint`` (a path), the full state is saved atomically every
    ``checkpoint_every`` steps; a later call with the same arguments, data and network
    resumes from it and ends with exactly the masks of an uninterrupted run (a checkpoint
    written for anything else is refused with a :class:`UserError`). The checkpoint is
    left holding the finished state: delete it once the results are saved.

    Returns NumPy arrays: ``masks`` (N, H, W) float32 unshifted, ``predictions`` (the
    targets), ``final_predictions`` (on the masked image at stop), ``steps`` (per image).
    The network is frozen and the work runs on its device."""
    if batch_size < 1 or checkpoint_every < 1 or max_steps < 0:
        raise UserError("batch_size and checkpoint_every must be >= 1 and max_steps >= 0")
    total_steps = schedule_steps or max_steps
    if total_steps < max_steps:
        raise UserError(f"schedule_steps ({total_steps}) must cover max_steps ({max_steps})")
    freeze(model)
    device, dtype = _model_device_dtype(model)
    x = x.to(device, dtype)
    n, (h, w) = len(x), x.shape[-2:]
    targets = _predict(model, x) if targets is None else torch.as_tensor(targets, dtype=torch.long).cpu()
    with torch.no_grad():
        z = model.normalize(x)
    y = targets.to(device)
    ref_loss = _unmasked_losses(model, z, y)
    target_np = targets.numpy()

    run = _ImageMaskRun(n, h, w, device, dtype)
    fingerprint = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        settings = dict(format=CHECKPOINT_FORMAT, lam=lam, lr=lr, max_steps=max_steps, patience=patience,
                        batch_size=batch_size, schedule_steps=total_steps, inv_tol=inv_tol,
                        sparsity_tol=sparsity_tol, exp_cap=exp_cap, dtype=str(dtype))
        fingerprint = _fingerprint(model, x, targets, settings)
        if checkpoint.exists():
            run.load(checkpoint, fingerprint)

    bar = progress_bar(total=n, initial=int(run.done.sum()), progress=progress, desc="image masks", unit="img")
    while True:
        run.admit(batch_size)
        if len(run.idx) == 0:
            break
        rows = torch.as_tensor(run.idx, device=device)
        m = run.m.detach().requires_grad_(True)
        logits = model.core(apply_fourier_mask(z[rows], m))
        invariance = _invariance(logits, y[rows], ref_loss[rows])
        loss = (_exp_penalty(invariance, exp_cap) + _sparsity_penalty(m, lam)).sum()

        # Evaluate the current masks (the state after run.t steps) for the stopping rule.
        inv = invariance.detach().cpu().numpy().astype(np.float64)
        sp = m.detach().mean(dim=(1, 2, 3)).cpu().numpy().astype(np.float64)
        pred = logits.detach().argmax(1).cpu().numpy()
        with np.errstate(invalid="ignore"):  # prev_* is NaN before a row's first step
            calm = ((pred == target_np[run.idx]) & (np.abs(inv - run.prev_inv) <= inv_tol)
                    & (np.abs(sp - run.prev_sp) <= sparsity_tol))
        run.stall = np.where(calm, run.stall + 1, 0)
        run.prev_inv, run.prev_sp = inv, sp
        finished = run.t >= max_steps
        if patience > 0:
            finished |= run.stall >= patience

        if finished.any():
            done_rows = np.flatnonzero(finished)
            images = run.idx[done_rows]
            run.masks[images] = m.detach()[done_rows, 0].cpu().numpy()
            run.final_predictions[images] = pred[done_rows]
            run.steps[images] = run.t[done_rows]
            run.done[images] = True
            bar.update(len(images))
        grad = torch.autograd.grad(loss, m)[0] if not finished.all() else None
        run.keep_rows(~finished)  # finished images leave the batch
        if grad is not None:
            grad = grad[torch.as_tensor(np.flatnonzero(~finished), device=device)]
            run.t = run.t + 1
            # update number t uses OneCycleLR's step t - 1
            lrs, beta1s = zip(*(one_cycle(int(t) - 1, total_steps, lr) for t in run.t))
            with torch.no_grad():
                _adam_update(run.m, grad, run.exp_avg, run.exp_avg_sq, run.t, lrs, beta1s)
                run.m.clamp_(0.0, 1.0)
        run.iteration += 1
        bar.set_postfix(active=len(run.idx), admitted=run.next_image, refresh=False)  # per step: let tqdm rate-limit
        if checkpoint is not None and run.iteration % checkpoint_every == 0:
            run.save(checkpoint, fingerprint)
    bar.close()
    if checkpoint is not None:
        # the finished state; the caller deletes the file once it has saved the results,
        # so a kill between here and that save loses nothing
        run.save(checkpoint, fingerprint)
    return {"masks": run.masks, "predictions": target_np.astype(np.int64),
            "final_predictions": run.final_predictions, "steps": run.steps}


# ------------------------------------------------------------- adversarial reversal

def select_reversal_images(vanilla, adversarial, x: torch.Tensor, y: torch.Tensor, eps_pixel: float,
                           pgd_steps: int = 10, seed: int = 0) -> dict:
    """The images of the paper's reversal experiment, selected as the authors' code does:
    the vanilla and adversarially trained nets agree on correctness (both right or both
    wrong), and PGD against the vanilla net (true labels) flips the vanilla net's
    correctness.

    Returns ``indices`` (int64, into x), ``x_adv`` (the PGD images of the selected ones)
    and ``counts`` (images, agreeing, flipped, selected)."""
    y = torch.as_tensor(y, dtype=torch.long).cpu()
    x_adv = pgd_attack(vanilla, x, y, eps_pixel, steps=pgd_steps, seed=seed)
    vanilla_right = _predict(vanilla, x) == y
    adversarial_right = _predict(adversarial, x) == y
    attacked_right = _predict(vanilla, x_adv) == y
    agree = vanilla_right == adversarial_right
    flipped = vanilla_right != attacked_right
    indices = torch.nonzero(agree & flipped).flatten()
    return {
        "indices": indices.numpy().astype(np.int64),
        "x_adv": x_adv[indices],
        "counts": {"images": len(y), "agree": int(agree.sum()), "flipped": int(flipped.sum()),
                   "selected": len(indices)},
    }


def reversal_accuracies(model, x: torch.Tensor, x_adv: torch.Tensor, masks) -> dict:
    """Table 2 of the paper: accuracy (%) against the model's own clean predictions, on
    x, on x_A, and with each image's mask (N, H, W; learned on x) applied to x and to x_A,
    and its complement Mc applied to x."""
    masks = torch.as_tensor(masks)
    reference = _predict(model, x)

    def agreement(pred):
        return 100.0 * float((pred == reference).double().mean())

    return {
        "x": agreement(reference),
        "x_A": agreement(_predict(model, x_adv)),
        "M(x)": agreement(_predict(model, x, masks)),
        "M(x_A)": agreement(_predict(model, x_adv, masks)),
        "Mc(x)": agreement(_predict(model, x, complement(masks))),
        "n": len(reference),
    }

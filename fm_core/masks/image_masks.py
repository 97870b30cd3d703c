"""Single-image masks: one Fourier mask per image, many images learned at once.

Each image is a row of a (B, 1, H, W) mask with its own Adam state, step count,
learning-rate schedule and stopping rule; finished images leave the batch and new ones
join, so the result for each image is that of learning it alone (up to float rounding).
Runs checkpoint and resume exactly. :class:`fm_core.masks.ImageMasks` is the configured,
callable face of :func:`run_image_masks`, the engine.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fm_core.errors import UserError
from fm_core.nets.evaluation import EVAL_BATCH, normalised_losses, predict
from fm_core.fourier import apply_fourier_mask, model_device_dtype
from .objective import adam_step, check_precision, exp_penalty, invariance as per_image_invariance
from .objective import network_logits, one_cycle_adam_table, sparsity_penalty
from .result import MaskResult
from fm_core.nets.models import freeze
from fm_core.utils import load_npz, progress_bar, save_npz_atomic, stable_hash

CHECKPOINT_FORMAT = "fm_core.image_masks_checkpoint/1"


class _ImageMaskRun:
    """The whole state of :func:`run_image_masks`: finished results (host), the active
    pool (one row per image being learned: its mask, Adam moments and stopping counters,
    all on the device) and the next image to admit. Everything a resumed run needs.

    The host reads the pool only at sync points (:meth:`collect_finished`), never in
    a step: a row's stopping counters only grow by one per step, so the host knows the
    earliest step at which any row can finish (:meth:`steps_until_a_row_can_finish`) and
    syncs exactly then. Every finished row is therefore collected at the very step the
    old per-step check would have removed it, and the pool's composition, step by step,
    is what it was with a host sync after every step."""

    DEVICE_ROWS = {"t": torch.int64, "stall": torch.int64, "prev_inv": torch.float64, "prev_sp": torch.float64}
    ARRAYS = ("masks", "final_predictions", "steps", "done", "idx")
    TENSORS = ("m", "exp_avg", "exp_avg_sq")

    def __init__(self, n: int, h: int, w: int, device, dtype):
        self.device, self.dtype = device, dtype
        # results, per image (host)
        self.masks = np.zeros((n, h, w), np.float32)
        self.final_predictions = np.full(n, -1, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.done = np.zeros(n, bool)
        # the pool, per active row: which image (host; changes only at sync points) and,
        # on the device, optimiser steps taken, consecutive steps meeting the stopping
        # criterion, invariance and sparsity one step earlier, masks and Adam moments
        self.idx = np.zeros(0, np.int64)
        for name, row_dtype in self.DEVICE_ROWS.items():
            setattr(self, name, torch.zeros(0, device=device, dtype=row_dtype))
        self.m = torch.zeros(0, 1, h, w, device=device, dtype=dtype)
        self.exp_avg = torch.zeros_like(self.m)
        self.exp_avg_sq = torch.zeros_like(self.m)
        self._clear_finished()
        self.next_image = 0
        self.iteration = 0

    def _clear_finished(self) -> None:
        # rows that met a stopping rule in the last step (their mask is frozen) and the
        # masked prediction at that step; saved state never holds any (collected first)
        self.finished = torch.zeros(len(self.idx), device=self.device, dtype=torch.bool)
        self.final_pred = torch.full((len(self.idx),), -1, device=self.device, dtype=torch.int64)

    def admit(self, batch_size: int) -> None:
        """Fill the pool up to ``batch_size`` rows with the next images, masks at ones."""
        k = min(batch_size - len(self.idx), len(self.done) - self.next_image)
        if k <= 0:
            return
        self.idx = np.concatenate([self.idx, np.arange(self.next_image, self.next_image + k)])
        self.next_image += k
        for name, row_dtype in self.DEVICE_ROWS.items():
            fill = float("nan") if row_dtype == torch.float64 else 0  # NaN: nothing to compare yet
            setattr(self, name, torch.cat([getattr(self, name),
                                           torch.full((k,), fill, device=self.device, dtype=row_dtype)]))
        self.finished = torch.cat([self.finished, torch.zeros(k, device=self.device, dtype=torch.bool)])
        self.final_pred = torch.cat([self.final_pred, torch.full((k,), -1, device=self.device, dtype=torch.int64)])
        shape = (k, *self.m.shape[1:])
        self.m = torch.cat([self.m, torch.ones(shape, device=self.device, dtype=self.dtype)])
        self.exp_avg = torch.cat([self.exp_avg, torch.zeros(shape, device=self.device, dtype=self.dtype)])
        self.exp_avg_sq = torch.cat([self.exp_avg_sq, torch.zeros(shape, device=self.device, dtype=self.dtype)])

    def keep_rows(self, keep: np.ndarray) -> None:
        """Drop the pool rows where ``keep`` is False (finished images leave the batch)."""
        rows = torch.as_tensor(np.flatnonzero(keep), device=self.device)
        self.idx = self.idx[keep]
        for name in (*self.DEVICE_ROWS, *self.TENSORS, "finished", "final_pred"):
            setattr(self, name, getattr(self, name).index_select(0, rows))

    def record_evaluation(self, inv, sp, correct, inv_tol: float, sparsity_tol: float,
                          max_steps: int, patience: int, pred) -> None:
        """The stopping rule after one evaluation of the current masks, on the device."""
        live = ~self.finished
        calm = correct & ((inv - self.prev_inv).abs() <= inv_tol) & ((sp - self.prev_sp).abs() <= sparsity_tol)
        self.stall = torch.where(live, torch.where(calm, self.stall + 1, 0), self.stall)
        self.prev_inv = torch.where(live, inv, self.prev_inv)
        self.prev_sp = torch.where(live, sp, self.prev_sp)
        stops = self.t >= max_steps
        if patience > 0:
            stops |= self.stall >= patience
        newly = live & stops
        self.final_pred = torch.where(newly, pred, self.final_pred)
        self.finished |= newly

    def collect_finished(self) -> int:
        """Sync point: move the finished rows' results to the host and drop those rows."""
        if len(self.idx) == 0:
            return 0
        finished = self.finished.cpu().numpy()
        if not finished.any():
            return 0
        rows = torch.as_tensor(np.flatnonzero(finished), device=self.device)
        images = self.idx[finished]
        self.masks[images] = self.m.index_select(0, rows)[:, 0].cpu().numpy()
        self.final_predictions[images] = self.final_pred.index_select(0, rows).cpu().numpy()
        self.steps[images] = self.t.index_select(0, rows).cpu().numpy()
        self.done[images] = True
        self.keep_rows(~finished)
        return len(images)

    def steps_until_a_row_can_finish(self, max_steps: int, patience: int) -> int:
        """A lower bound (>= 1) on the steps before any row can be collected: a row at t
        steps stops at the earliest after the evaluation at step max_steps, i.e. is
        collected max_steps - t + 1 steps from now; a row with stall s after patience - s."""
        counts = torch.stack([self.t, self.stall]).cpu().numpy()
        soonest = max_steps - counts[0] + 1
        if patience > 0:
            soonest = np.minimum(soonest, patience - counts[1])
        return max(1, int(soonest.min())) if len(soonest) else 1

    def save(self, path, fingerprint: str) -> None:
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        arrays.update({name: getattr(self, name).cpu().numpy() for name in (*self.DEVICE_ROWS, *self.TENSORS)})
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
        for name, row_dtype in self.DEVICE_ROWS.items():
            setattr(self, name, torch.as_tensor(saved[name]).to(self.device, row_dtype))
        for name in self.TENSORS:
            setattr(self, name, torch.as_tensor(saved[name]).to(self.device, self.dtype))
        self._clear_finished()
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


def run_image_masks(model, x: torch.Tensor, targets=None, *, lam: float, lr: float, max_steps: int,
                    patience: int, batch_size: int, schedule_steps: int | None, inv_tol: float,
                    sparsity_tol: float, checkpoint_every: int, exp_cap: float | None, precision: str,
                    channels_last: bool, checkpoint=None, progress: bool = True) -> MaskResult:
    """One mask per image of x (N, 1, H, W) in [0, 1]. This is the engine: every setting
    is required here, and their defaults (the paper's: lambda 0.07, lr 0.2 one-cycle,
    <= 20,000 steps, patience 300) live in one place, :class:`fm_core.masks.ImageMasks`,
    whose call (and :func:`fm_core.masks.learn_image_masks`) checks inputs and runs this.

    Image i's loss is exp((l_i(x_bar_i) - l_i(x_i))^2) + lam/(H*W) * ||M_i||_1, with l_i the
    cross-entropy against ``targets[i]`` (default: the network's own prediction on the
    unmasked image); above (l_i(x_bar_i) - l_i(x_i))^2 = ``exp_cap`` the exp continues
    linearly (see :func:`~fm_core.masks.objective.exp_penalty`; ``exp_cap=None``: the paper's exp everywhere). Up to
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

    Speed: images, targets, masks, Adam state and stopping counters stay on the network's
    device, and the host reads them only when some row can have finished (see
    ``_ImageMaskRun``), not after every step. ``precision="bf16"`` runs the network under
    bfloat16 autocast and ``channels_last`` puts it (in place) and its inputs in that
    memory format; both are off by default (float32 masks), see
    :data:`fm_core.masks.objective.PRECISIONS` for how far their masks may differ.

    Returns a :class:`~fm_core.masks.result.MaskResult`: ``masks`` (N, H, W) float32
    unshifted, ``predictions`` (the targets), ``final_predictions`` (on the masked image
    at stop), ``steps`` (per image), ``kept`` (final prediction == target).
    The network is frozen and the work runs on its device."""
    if batch_size < 1 or checkpoint_every < 1 or max_steps < 0:
        raise UserError("batch_size and checkpoint_every must be >= 1 and max_steps >= 0")
    total_steps = schedule_steps or max_steps
    if total_steps < max_steps:
        raise UserError(f"schedule_steps ({total_steps}) must cover max_steps ({max_steps})")
    freeze(model)
    device, dtype = model_device_dtype(model)
    check_precision(precision, device)
    if channels_last:
        model.core.to(memory_format=torch.channels_last)
    x = x.to(device, dtype)
    n, (h, w) = len(x), x.shape[-2:]
    targets = predict(model, x) if targets is None else torch.as_tensor(targets, dtype=torch.long).cpu()
    with torch.no_grad():
        z = model.normalize(x)
    y = targets.to(device)
    ref_loss = _reference_losses(model, z, y, precision, channels_last)
    target_np = targets.numpy()
    # per-step Adam coefficients, looked up by each row's step count on the device
    adam_table = torch.as_tensor(one_cycle_adam_table(max_steps, total_steps, lr), device=device).to(dtype)

    run = _ImageMaskRun(n, h, w, device, dtype)
    fingerprint = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        settings = dict(format=CHECKPOINT_FORMAT, lam=lam, lr=lr, max_steps=max_steps, patience=patience,
                        batch_size=batch_size, schedule_steps=total_steps, inv_tol=inv_tol,
                        sparsity_tol=sparsity_tol, exp_cap=exp_cap, dtype=str(dtype))
        settings.update(_speed_settings(precision, channels_last))
        fingerprint = _fingerprint(model, x, targets, settings)
        if checkpoint.exists():
            run.load(checkpoint, fingerprint)

    bar = progress_bar(total=n, initial=int(run.done.sum()), progress=progress, desc="image masks", unit="img")
    next_sync, last_saved = run.iteration, run.iteration
    while True:
        if run.iteration >= next_sync:  # the only place the host reads the pool
            bar.update(run.collect_finished())  # finished images leave the batch
            run.admit(batch_size)
            if len(run.idx) == 0:
                break
            if checkpoint is not None and run.iteration % checkpoint_every == 0 and run.iteration != last_saved:
                run.save(checkpoint, fingerprint)
                last_saved = run.iteration
            next_sync = run.iteration + run.steps_until_a_row_can_finish(max_steps, patience)
            if checkpoint is not None:  # checkpoints fall on sync points
                next_sync = min(next_sync, (run.iteration // checkpoint_every + 1) * checkpoint_every)
            rows = torch.as_tensor(run.idx, device=device)
            z_rows, y_rows, ref_rows = z.index_select(0, rows), y.index_select(0, rows), ref_loss.index_select(0, rows)
        m = run.m.detach().requires_grad_(True)
        logits = network_logits(model.core, apply_fourier_mask(z_rows, m), precision, channels_last)
        invariance = per_image_invariance(logits, y_rows, ref_rows)
        loss = (exp_penalty(invariance, exp_cap) + sparsity_penalty(m, lam)).sum()
        grad = torch.autograd.grad(loss, m)[0]
        with torch.no_grad():
            # the stopping rule on the current masks (the state after t steps), then one
            # Adam step for every row that has not finished
            pred = logits.argmax(1)
            run.record_evaluation(invariance.double(), m.mean(dim=(1, 2, 3)).double(), pred == y_rows,
                                  inv_tol, sparsity_tol, max_steps, patience, pred)
            run.t += (~run.finished).long()
            # update number t uses OneCycleLR's step t - 1
            coefficients = adam_table[:, (run.t - 1).clamp(0, adam_table.shape[1] - 1)]
            adam_step(run.m, grad, run.exp_avg, run.exp_avg_sq, *coefficients.view(3, -1, 1, 1, 1),
                      frozen=run.finished)
            run.m.clamp_(0.0, 1.0)
        run.iteration += 1
        bar.set_postfix(active=len(run.idx), admitted=run.next_image, refresh=False)  # per step: let tqdm rate-limit
    bar.close()
    if checkpoint is not None:
        # the finished state; the caller deletes the file once it has saved the results,
        # so a kill between here and that save loses nothing
        run.save(checkpoint, fingerprint)
    settings = dict(learner="image", lam=lam, lr=lr, max_steps=max_steps, patience=patience,
                    batch_size=batch_size, schedule_steps=total_steps, inv_tol=inv_tol,
                    sparsity_tol=sparsity_tol, exp_cap=exp_cap, **_speed_settings(precision, channels_last))
    return MaskResult(masks=run.masks, steps=run.steps, kept=run.final_predictions == target_np,
                      converged=run.steps < max_steps,  # the stopping rule fired inside the budget
                      predictions=target_np.astype(np.int64), final_predictions=run.final_predictions,
                      settings=settings)


def _speed_settings(precision: str, channels_last: bool) -> dict:
    """The speed options that can change the masks, recorded only when not the default
    (so results and checkpoints of default runs keep their settings and fingerprints)."""
    return {k: v for k, v in dict(precision=precision, channels_last=channels_last).items()
            if v not in ("fp32", False)}


@torch.no_grad()
def _reference_losses(model, z: torch.Tensor, y: torch.Tensor, precision: str, channels_last: bool):
    """l_i(x_i), the invariance term's reference, with the network run as in the steps."""
    if precision == "fp32" and not channels_last:
        return normalised_losses(model, z, y)
    return torch.cat([F.cross_entropy(network_logits(model.core, z[i:i + EVAL_BATCH], precision, channels_last),
                                      y[i:i + EVAL_BATCH], reduction="none") for i in range(0, len(z), EVAL_BATCH)])

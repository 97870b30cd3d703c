"""Judging a frequency map (:class:`fm_core.methods.FrequencyMap`) three ways, always on
images it was not made from:

- **truth** (:func:`truth_scores`): in the cue world, the AUROC and precision at k with
  which the map singles out each planted cue's bins (k = that cue's bin count), and its
  L-share (:func:`fm_core.science.cue_analysis.mask_cue_shares` on the map scaled to [0, 1]);
- **faithfulness** (:func:`frequency_curves`): deletion and insertion curves in
  frequency. Rank the frequency pairs {k, -k} by the map, then remove the top k pairs
  from each image (deletion) or keep only them (insertion), for k swept geometrically
  from 1 to all pairs, and measure accuracy and loss. DC (the mean brightness, cue-free)
  is never removed and always kept, so no curve runs through images of the wrong
  brightness. A faithful map makes accuracy fall fast on deletion and rise fast on
  insertion; a random ranking is the floor;
- **cost**: the map's own record of passes and seconds (:mod:`fm_core.methods`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fm_core.science.analysis import ground_truth_scores
from fm_core.science.cue_analysis import mask_cue_shares
from fm_core.fourier import model_device_dtype
from .pairs import frequency_pairs, pair_indicators, pair_values
from fm_core.utils import progress_bar


def scaled(values: np.ndarray) -> np.ndarray:
    """A map as "fraction used" in [0, 1]: negatives (a change that *helped* the network)
    count as unused, then divided by the maximum. Rankings are unchanged above zero."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0, None)
    top = v.max()
    return v / top if top > 0 else v


def truth_scores(values: np.ndarray, truth: dict) -> dict:
    """AUROC and precision@k of the map for each cue ({"low", "high"}: (C, H, W) or (H, W)
    bool), on its symmetric part, and its L-share."""
    shares = mask_cue_shares(scaled(values), truth["low"], truth["high"])
    out = {"AUROC L": shares["AUROC L"], "AUROC H": shares["AUROC H"]}
    for cue, letter in (("low", "L"), ("high", "H")):
        bins = np.asarray(truth[cue]).reshape(-1, *np.shape(values)).any(0)
        out[f"precision@k {letter}"] = round(ground_truth_scores(scaled(values), bins)["precision_at_k"], 4)
    out["L-share"] = shares["L-share"]
    return out


def ranking(values: np.ndarray, pairs: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices into ``pairs`` (DC left out), most used first. Ties are broken at random
    (seeded): a mask is flat at 0 or 1 over many bins, and breaking its ties by index
    would favour whatever frequencies happen to come first."""
    scores = pair_values(values, pairs)
    tie_break = np.random.default_rng(seed).random(len(pairs))
    order = np.lexsort((tie_break, -scores))
    dc = np.flatnonzero((pairs[:, 0] == 0) & (pairs[:, 1] == 0))
    return order[~np.isin(order, dc)]


def random_ranking(pairs: np.ndarray, seed: int = 0) -> np.ndarray:
    """The floor: a random order of the pairs (DC left out)."""
    order = np.random.default_rng([seed, 1]).permutation(len(pairs))
    return order[~((pairs[order, 0] == 0) & (pairs[order, 1] == 0))]


def k_grid(n_pairs: int, points: int = 7) -> np.ndarray:
    """Whole k from 1 to n_pairs, about evenly spaced on a log axis."""
    return np.unique(np.round(np.geomspace(1, n_pairs, points)).astype(int))


def _keep_masks(order: np.ndarray, ks: np.ndarray, indicators: torch.Tensor, dc: torch.Tensor) -> torch.Tensor:
    """(2 * len(ks), H, W): for each k, the deletion filter then the insertion filter."""
    cumulative = torch.cumsum(indicators[torch.as_tensor(order)], dim=0)  # (P-1, H, W)
    top = cumulative[torch.as_tensor(ks - 1)].clamp(max=1)
    deletion, insertion = 1 - top, (top + dc).clamp(max=1)
    return torch.stack([deletion, insertion], dim=1).reshape(-1, *indicators.shape[1:])


def area(ks: np.ndarray, curve, n_pairs: int) -> float:
    """Area under a curve against log(k)/log(n_pairs) in [0, 1] (trapezoids): each
    doubling of k weighs the same, so the few top frequencies count."""
    u = np.log(ks) / np.log(n_pairs) if n_pairs > 1 else np.zeros(len(ks))
    c = np.asarray(curve, dtype=float)
    return float(np.sum((u[1:] - u[:-1]) * (c[1:] + c[:-1]) / 2))


@torch.no_grad()
def frequency_curves(model, x: torch.Tensor, y: torch.Tensor, maps: dict, points: int = 7,
                     batch_size: int = 1024, seed: int = 0, progress: bool = True) -> dict:
    """Deletion and insertion curves of each map in ``maps`` (name -> (H, W) values) plus
    ``"random"``, on images x (N, C, H, W) in [0, 1] with labels y.

    Returns name -> {"k", "deletion accuracy", "deletion loss", "insertion accuracy",
    "insertion loss", and the areas "AUC deletion accuracy", ..., "AUC insertion loss"};
    accuracy as a fraction, loss the mean cross-entropy."""
    device, dtype = model_device_dtype(model)
    x, y = torch.as_tensor(x).to(device, dtype), torch.as_tensor(y).to(device).long()
    (n, _, h, w), pairs = x.shape, frequency_pairs(*x.shape[-2:])
    indicators = pair_indicators(h, w, pairs)
    dc = torch.zeros(h, w)
    dc[0, 0] = 1
    orders = {name: ranking(v, pairs, seed) for name, v in maps.items()}
    orders["random"] = random_ranking(pairs, seed)
    ks = k_grid(len(orders["random"]), points)
    filters = torch.cat([_keep_masks(o, ks, indicators, dc) for o in orders.values()]).to(device, dtype)
    spectrum = torch.fft.fft2(x)
    loss, correct = torch.zeros(len(filters)), torch.zeros(len(filters))
    step = max(1, batch_size // n)
    for start in progress_bar(range(0, len(filters), step), progress=progress, desc="deletion/insertion", unit="chunk"):
        f = filters[start:start + step]
        images = torch.fft.ifft2(f[:, None, None] * spectrum[None]).real.reshape(-1, *x.shape[1:])
        logits = model(images)
        yy = y.repeat(len(f))
        loss[start:start + len(f)] = F.cross_entropy(logits, yy, reduction="none").view(len(f), n).mean(1).cpu()
        correct[start:start + len(f)] = (logits.argmax(1) == yy).float().view(len(f), n).mean(1).cpu()
    out = {}
    for index, name in enumerate(orders):
        rows = slice(index * 2 * len(ks), (index + 1) * 2 * len(ks))
        acc, ce = correct[rows].view(len(ks), 2).numpy(), loss[rows].view(len(ks), 2).numpy()
        curves = {"k": ks.tolist(), "deletion accuracy": acc[:, 0].tolist(), "insertion accuracy": acc[:, 1].tolist(),
                  "deletion loss": ce[:, 0].tolist(), "insertion loss": ce[:, 1].tolist()}
        for key in ("deletion accuracy", "insertion accuracy", "deletion loss", "insertion loss"):
            curves[f"AUC {key}"] = round(area(ks, curves[key], int(ks[-1])), 4)
        out[name] = curves
    return out


def cost_row(cost: dict) -> dict:
    """A map's cost for a table: passes (forward, backward) and seconds."""
    return {"forward passes": cost.get("forward_passes"), "backward passes": cost.get("backward_passes"),
            "seconds": cost.get("seconds"), "cost from": cost.get("source")}

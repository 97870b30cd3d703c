"""The adversarial reversal experiment (Karantzas et al. 2022, Section 3, Table 2).

Images are selected as the authors' code selects them; masks learned on a clean image
are then applied to its PGD image. Table 2's numbers come with controls that say how
much of a "reversal" comes from the image's own mask: a random mask with the same
number of kept bins, another same-class image's mask, and the class mask.
"""
from __future__ import annotations

import numpy as np
import torch

from fm_core.nets.attacks import pgd_attack
from fm_core.nets.evaluation import predict
from fm_core.fourier import complement

KEPT_THRESHOLD = 0.5  # a bin counts as kept by a mask when its value is above this


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
    vanilla_right = predict(vanilla, x) == y
    adversarial_right = predict(adversarial, x) == y
    attacked_right = predict(vanilla, x_adv) == y
    agree = vanilla_right == adversarial_right
    flipped = vanilla_right != attacked_right
    indices = torch.nonzero(agree & flipped).flatten()
    return {
        "indices": indices.numpy().astype(np.int64),
        "x_adv": x_adv[indices],
        "counts": {"images": len(y), "agree": int(agree.sum()), "flipped": int(flipped.sum()),
                   "selected": len(indices)},
    }


def random_masks_like(masks: np.ndarray, seed: int = 0) -> np.ndarray:
    """For each mask, a binary mask keeping as many bins (value > 0.5) at random places."""
    masks = np.asarray(masks)
    rng = np.random.default_rng(seed)
    out = np.zeros_like(masks, dtype=np.float32)
    flat = out.reshape(len(masks), -1)
    for i, m in enumerate(masks):
        k = int((m > KEPT_THRESHOLD).sum())
        flat[i, rng.choice(flat.shape[1], size=k, replace=False)] = 1.0
    return out


def same_class_partner(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """For each image, the index of another image of its class (itself when alone)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    partner = np.arange(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) > 1:
            shift = rng.integers(1, len(members))
            partner[members] = np.roll(members, shift)
    return partner


def reversal_accuracies(model, x: torch.Tensor, x_adv: torch.Tensor, masks, labels=None,
                        class_masks=None, seed: int = 0) -> dict:
    """Table 2: agreement (%) with the model's own clean predictions on x, on x_A, with
    each image's mask (N, H, W; learned on x) applied to x and to x_A, and its complement
    Mc applied to x. With ``labels`` (and ``class_masks``, (C, H, W)) the controls on
    x_A: a random mask keeping as many bins, another same-class image's mask, the class
    mask."""
    masks = np.asarray(masks, dtype=np.float32)
    reference = predict(model, x)

    def agreement(pred):
        return 100.0 * float((pred == reference).double().mean())

    out = {
        "x": agreement(reference),
        "x_A": agreement(predict(model, x_adv)),
        "M(x)": agreement(predict(model, x, masks)),
        "M(x_A)": agreement(predict(model, x_adv, masks)),
        "Mc(x)": agreement(predict(model, x, complement(masks))),
        "random mask, same size (x_A)": agreement(predict(model, x_adv, random_masks_like(masks, seed))),
        "n": len(reference),
    }
    if labels is not None:
        partner = same_class_partner(labels, seed)
        out["same-class image's mask (x_A)"] = agreement(predict(model, x_adv, masks[partner]))
        if class_masks is not None:
            per_image = np.asarray(class_masks, dtype=np.float32)[np.asarray(labels)]
            out["class mask (x_A)"] = agreement(predict(model, x_adv, per_image))
    return out


def attack_success(model, x: torch.Tensor, y: torch.Tensor, eps_pixel: float, pgd_steps: int = 10,
                   seed: int = 0) -> float:
    """The share of the images ``model`` classifies correctly whose prediction PGD at
    ``eps_pixel`` (against the true labels) makes wrong: how strong an attack is, read
    without any mask."""
    y = torch.as_tensor(y, dtype=torch.long).cpu()
    right = predict(model, x) == y
    if not right.any():
        return float("nan")
    x_adv = pgd_attack(model, x[right], y[right], eps_pixel, steps=pgd_steps, seed=seed)
    return float((predict(model, x_adv) != y[right]).double().mean())


def weakest_sufficient_attack(success: dict, at_least: float) -> float | None:
    """The smallest eps factor (a key of ``success``, factor -> attack success) whose
    attack succeeds on at least ``at_least`` of the images; None if none does."""
    enough = [factor for factor, share in success.items() if share >= at_least]
    return min(enough) if enough else None

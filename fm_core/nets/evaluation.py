"""The one way this project runs a network for numbers: predictions, accuracies and
per-image losses, optionally through a Fourier mask, in fixed-size chunks on the
network's device. Training, attacks, mask learning and every experiment use these."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from fm_core.fourier import SpectrumFilter, as_mask_batch, masked_logits, model_device_dtype

from .classifier import as_classifier

EVAL_BATCH = 256  # images per forward pass when only predictions or losses are needed


def _chunks(model, x: torch.Tensor, masks, batch_size: int):
    """Yield (rows, logits) over x in eval mode, masked by one shared mask ((H, W) or
    (1, 1, H, W)) or one per image ((N, H, W) or (N, 1, H, W)), by an amplitude or phase mask
    (a :class:`fm_core.fourier.SpectrumFilter`), or unmasked (None). ``model``: ours, or
    any network as :func:`fm_core.nets.classifier.as_classifier` takes it (one that expects
    normalised images: pass ``as_classifier(network, (mean, std))``)."""
    model = as_classifier(model)
    device, dtype = model_device_dtype(model)
    if isinstance(masks, SpectrumFilter):  # an amplitude or phase mask: one for every image
        masks = SpectrumFilter(masks.mask.to(device, dtype), masks.part, masks.reference)
    elif masks is not None:
        masks = as_mask_batch(torch.as_tensor(masks))
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device, dtype)
            if masks is None:
                logits = model.core(model.normalize(xb))
            else:
                mb = masks if isinstance(masks, SpectrumFilter) or masks.shape[0] == 1 else masks[i:i + batch_size]
                logits = masked_logits(model, xb, mb if isinstance(mb, SpectrumFilter) else mb.to(device, dtype))
            yield slice(i, i + len(xb)), logits
    finally:
        model.train(was_training)


@torch.no_grad()
def predict(model, x: torch.Tensor, masks=None, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Predictions (CPU, int64) of the network on x in [0, 1], unmasked or masked."""
    preds = [logits.argmax(1).cpu() for _, logits in _chunks(model, x, masks, batch_size)]
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)


def accuracy(model, x: torch.Tensor, y, masks=None) -> float:
    """Accuracy (fraction) on (x, y), unmasked or masked; NaN for no images."""
    y = torch.as_tensor(y).cpu()
    if len(y) == 0:
        return float("nan")
    return float((predict(model, x, masks) == y).double().mean())


@torch.no_grad()
def loss_and_accuracy(model, x: torch.Tensor, y: torch.Tensor, masks=None,
                      batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on (x, y)."""
    loss, correct = 0.0, 0
    for rows, logits in _chunks(model, x, masks, batch_size):
        yb = y[rows].to(logits.device)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    return loss / len(x), correct / len(x)


@torch.no_grad()
def normalised_losses(model, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image cross-entropy L(f(z), y) of already *normalised* images z (on their
    device): the mask objective's reference. Fixed chunks, independent of any pool size."""
    if len(z) == 0:
        return torch.zeros(0, device=z.device, dtype=z.dtype)
    return torch.cat([F.cross_entropy(model.core(z[i:i + EVAL_BATCH]), y[i:i + EVAL_BATCH],
                                      reduction="none") for i in range(0, len(z), EVAL_BATCH)])


# A network within this many points of chance has learned (almost) nothing: every page
# that shows one says so (fm_core.book.tables.chance_warning)
CHANCE_MARGIN = 0.10


def near_chance(accuracy_: float, num_classes: int, margin: float = CHANCE_MARGIN) -> bool:
    """Whether an accuracy (fraction) lies within ``margin`` of chance, 1 / num_classes."""
    return bool(accuracy_ <= 1.0 / num_classes + margin)

"""Known truth in colour (issue 38): do the shared and the per-channel Fourier masks of an
RGB network find the channel and the frequencies that carry its cue?

A small convolutional network, defined here as a user would define theirs (plain
``torch.nn``, normalisation outside it), is trained for a few epochs on the colour cue
world (:mod:`fm_core.data.colour_cues`), then masked on held-out images (another seed)
through the public face with the mask method's lambda path
(:class:`~fm_core.methods.DatasetMaskMethod`), once with one mask shared by the channels
and once per channel. Each map is scored by the AUROC of its (symmetrised) values on the
planted bins against the rest (:func:`fm_core.science.analysis.ground_truth_scores`):
over the frequencies for the shared map, over channel x frequency for the per-channel one.
"""
from __future__ import annotations

import torch
from torch import nn

from fm_core.data.colour_cues import colour_truth, generate_colour
from fm_core.fourier import symmetric_part
from fm_core.science.analysis import ground_truth_scores

from .peers import DatasetMaskMethod

# The colour world's pixels are 0.5 plus a background of std about 0.1 (its 1/f^2 std
# 0.06, the cue and white noise): the normalisation the small network is trained under
NORMALIZATION = (0.5, 0.1)
HELD_OUT_SEED_OFFSET = 1000  # held-out images come from seed + this, never the training seed


def small_rgb_network(classes: int = 5) -> nn.Module:
    """Two convolutions and a pooled linear head, for (N, 3, H, W) normalised images."""
    return nn.Sequential(nn.Conv2d(3, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, classes))


def train_small(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int = 0) -> nn.Module:
    """The small network trained with Adam (lr 3e-3, batches of 64) on normalised x."""
    torch.manual_seed(seed)
    net = small_rgb_network()
    optimiser = torch.optim.Adam(net.parameters(), 3e-3)
    mean, std = NORMALIZATION
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            loss = nn.functional.cross_entropy(net((x[batch] - mean) / std), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


def colour_recovery(carrier: str = "red", n_train: int = 1500, epochs: int = 4, n_held_out: int = 128,
                    max_steps: int = 100, seed: int = 0, size: int = 32) -> dict:
    """Train on the colour cue world with ``carrier``, mask ``n_held_out`` held-out images
    shared and per channel; returns the network's held-out accuracy, each map's AUROC
    (and precision at k) and the per-channel map's mean per channel."""
    x, y = (torch.as_tensor(a) for a in generate_colour(n_train, size, seed, carrier))
    xh, yh = (torch.as_tensor(a) for a in generate_colour(n_held_out, size, seed + HELD_OUT_SEED_OFFSET, carrier))
    net = train_small(x, y, epochs, seed)
    mean, std = NORMALIZATION
    with torch.no_grad():
        accuracy = float((net((xh - mean) / std).argmax(1) == yh).double().mean())
    truth = colour_truth(size, carrier)
    out = {"carrier": carrier, "held_out_accuracy": accuracy}
    for channels in ("shared", "per-channel"):
        method = DatasetMaskMethod(channels=channels, max_steps=max_steps, seed=seed)
        fmap = method.set_normalization_used(mean, std).attribute(net, xh, yh, progress=False)
        values = symmetric_part(fmap.extra["masks"].mean(0))  # the path's mean, per channel if so
        if channels == "shared":
            scores = ground_truth_scores(values, truth.any(0))
        else:
            scores = ground_truth_scores(values.reshape(-1, size), truth.reshape(-1, size))
            out["per-channel mean"] = values.reshape(3, -1).mean(1).tolist()
        out[channels] = {k: scores[k] for k in ("auroc", "precision_at_k")}
    return out


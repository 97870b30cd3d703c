"""The in-memory data set every loader returns, and the one place its arrays are checked.

A :class:`Dataset` holds square images in [0, 1] as tensors (one channel, or C from a
user's file for a network of C channels); loaders build it
with :func:`from_arrays`, which turns anything a user can get wrong (shapes, dtypes, NaN,
labels) into a one-line :class:`~fm_core.errors.UserError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from . import validate
from fm_core.errors import UserError


@dataclass
class Dataset:
    """Tensors in memory: x of shape (N, C, H, W), float32 in [0, 1] (C = 1 but for a
    user's colour files); y int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    class_names: list[str]
    mean: float = 0.0  # of the training set (all channels); lives inside our model wrapper
    std: float = 1.0
    # (C, H, W) bool: the frequencies that carry each class's planted cues, in the
    # masks' unshifted FFT layout. Only the synthetic data set has it.
    ground_truth: np.ndarray | None = None
    # The cue world's truths, {"low": (C, H, W), "high": (C, H, W)} bool (synthetic only);
    # ground_truth is then their union.
    truth: dict | None = None
    # Random transform applied to training batches on the fly (Imagenette's crop/flip).
    train_augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in ("train", "val"):
            raise UserError(f"unknown split {name!r}; choose train or val")
        return (self.x_train, self.y_train) if name == "train" else (self.x_val, self.y_val)

    def describe(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val, "
                f"{self.size}x{self.size}, {self.num_classes} classes")


def from_arrays(name: str, x_train, y_train, x_val, y_val, class_names=None, channels: int = 1,
                **kwargs) -> Dataset:
    """Check and convert arrays (N, H, W) (or (N, C, H, W) with ``channels`` C) in [0, 1]
    float or uint8 into a :class:`Dataset` (the checks live in :mod:`fm_core.data.validate`)."""
    xs = [torch.from_numpy(validate.images(name, key, x, channels)) for key, x in (("x_train", x_train),
                                                                                   ("x_val", x_val))]
    xs = [x[:, None] if x.dim() == 3 else x for x in xs]
    if xs[0].shape[-1] != xs[1].shape[-1]:
        raise UserError(f"{name}: x_train and x_val have different image sizes")
    if class_names is not None:
        class_names = [str(c) for c in class_names]
    y_tr, y_va, num_classes = validate.labels(name, y_train, y_val, len(xs[0]), len(xs[1]), class_names)
    if class_names is None:
        class_names = [str(i) for i in range(num_classes)]
    mean = float(xs[0].mean())
    std = float(xs[0].std().clamp_min(1e-6))
    kwargs.setdefault("mean", mean)
    kwargs.setdefault("std", std)
    return Dataset(name, xs[0], torch.from_numpy(y_tr), xs[1], torch.from_numpy(y_va), class_names, **kwargs)


def subsample(ds: Dataset, n_train: int | None, n_val: int | None, seed: int) -> Dataset:
    """A class-stratified-by-chance subset (fixed seed); keeps mean/std of the full set.
    Each split draws from its own generator, so the validation subset does not depend on
    ``n_train``: a network trained on fewer images is masked and judged on the same
    validation images as one trained on all."""
    def pick(total: int, n: int) -> torch.Tensor:
        return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values

    if n_train is not None and n_train < len(ds.y_train):
        idx = pick(len(ds.y_train), n_train)
        ds.x_train, ds.y_train = ds.x_train[idx], ds.y_train[idx]
    if n_val is not None and n_val < len(ds.y_val):
        idx = pick(len(ds.y_val), n_val)
        ds.x_val, ds.y_val = ds.x_val[idx], ds.y_val[idx]
    ds.meta.update(n_train=len(ds.y_train), n_val=len(ds.y_val))
    return ds

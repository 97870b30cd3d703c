"""Data sets, named by one string everywhere (library, CLI, notebook parameters).

- ``synthetic`` (default): planted frequencies with natural statistics, see
  :mod:`fm_core.synthetic`; generated from a seed in seconds and cached under ``data/``.
- ``imagenette``: the paper's 5 classes, grayscale, from ``data/imagenette2-160/``.
- a folder in ImageFolder layout (``train/`` and ``val/``, one sub-folder per class).
- an ``.npz`` with ``x_train``, ``y_train``, ``x_val``, ``y_val`` and optional
  ``class_names``.

Every loader returns a :class:`Dataset`: one-channel square images in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import UserError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass
class Dataset:
    """Tensors in memory: x of shape (N, 1, H, W), float32 in [0, 1]; y int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    class_names: list[str]
    mean: float = 0.0  # of the training set; lives inside the model wrapper
    std: float = 1.0
    # (C, H, W) bool: the frequencies that carry each class's planted texture cue,
    # in the masks' unshifted FFT layout. Only the synthetic data set has it.
    ground_truth: np.ndarray | None = None
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


def from_arrays(name: str, x_train, y_train, x_val, y_val, class_names=None, **kwargs) -> Dataset:
    """Check and convert arrays (N, H, W) in [0, 1] float or uint8 into a :class:`Dataset`."""
    xs = []
    for key, x in (("x_train", x_train), ("x_val", x_val)):
        x = np.asarray(x)
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 3:
            raise UserError(f"{name}: {key} must have shape (N, H, W), got {x.shape}")
        if x.shape[1] != x.shape[2]:
            raise UserError(f"{name}: images must be square, {key} is {x.shape[1]}x{x.shape[2]}")
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        elif np.issubdtype(x.dtype, np.floating):
            if not np.isfinite(x).all():
                raise UserError(f"{name}: {key} contains NaN or infinite pixels")
            if x.min() < 0 or x.max() > 1:
                raise UserError(f"{name}: {key} pixels must lie in [0, 1] (found {x.min():.3g}..{x.max():.3g})")
        else:
            raise UserError(f"{name}: {key} must be float in [0, 1] or uint8, got {x.dtype}")
        xs.append(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[:, None])
    if xs[0].shape[-1] != xs[1].shape[-1]:
        raise UserError(f"{name}: x_train and x_val have different image sizes")
    ys = []
    for key, y, x in (("y_train", y_train, xs[0]), ("y_val", y_val, xs[1])):
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x):
            raise UserError(f"{name}: {key} must have one integer label per image ({len(x)}), got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise UserError(f"{name}: {key} must hold integer labels")
        if len(y) and y.min() < 0:
            raise UserError(f"{name}: {key} has negative labels")
        ys.append(torch.from_numpy(y.astype(np.int64)))
    num_classes = int(max(ys[0].max(), ys[1].max())) + 1 if len(ys[0]) else 0
    if class_names is None:
        class_names = [str(i) for i in range(num_classes)]
    class_names = [str(c) for c in class_names]
    if len(class_names) < num_classes:
        raise UserError(f"{name}: {len(class_names)} class_names for {num_classes} classes")
    if len(ys[0]) == 0 or len(ys[1]) == 0:
        raise UserError(f"{name}: the train and val splits must both hold images")
    mean = float(xs[0].mean())
    std = float(xs[0].std().clamp_min(1e-6))
    kwargs.setdefault("mean", mean)
    kwargs.setdefault("std", std)
    return Dataset(name, xs[0], ys[0], xs[1], ys[1], class_names, **kwargs)


def _subsample(ds: Dataset, n_train: int | None, n_val: int | None, seed: int) -> Dataset:
    """A class-stratified-by-chance subset (fixed seed); keeps mean/std of the full set."""
    g = torch.Generator().manual_seed(seed)
    if n_train is not None and n_train < len(ds.y_train):
        idx = torch.randperm(len(ds.y_train), generator=g)[:n_train].sort().values
        ds.x_train, ds.y_train = ds.x_train[idx], ds.y_train[idx]
    if n_val is not None and n_val < len(ds.y_val):
        idx = torch.randperm(len(ds.y_val), generator=g)[:n_val].sort().values
        ds.x_val, ds.y_val = ds.x_val[idx], ds.y_val[idx]
    ds.meta.update(n_train=len(ds.y_train), n_val=len(ds.y_val))
    return ds


def load_dataset(name: str = "synthetic", size: int = 32, seed: int = 0,
                 n_train: int | None = None, n_val: int | None = None) -> Dataset:
    """Load (or generate) the data set named ``name`` at ``size`` x ``size``."""
    from . import synthetic

    name = str(name)
    if name == "synthetic":
        ds = synthetic.load_synthetic(size=size, seed=seed)
    elif name == "imagenette":
        from . import datafiles

        ds = datafiles.load_imagenette(DATA_DIR / "imagenette2-160", size=size)
    else:
        from . import datafiles

        path = Path(name).expanduser()
        if not path.exists():
            raise UserError(f"data set {name!r} not found: give 'synthetic', 'imagenette', "
                            "a folder with train/ and val/, or an .npz file")
        if path.is_dir():
            ds = datafiles.load_image_folder(path, size=size)
        elif path.suffix == ".npz":
            ds = datafiles.load_npz_dataset(path)
        else:
            raise UserError(f"{path}: expected a folder (ImageFolder layout) or an .npz file")
    return _subsample(ds, n_train, n_val, seed)

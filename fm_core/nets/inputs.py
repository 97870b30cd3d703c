"""One check for what a caller hands to any learner or method: images, labels and
settings. Each mistake is one :class:`~fm_core.errors.UserError` line (a ``ValueError``,
as scikit-learn's input errors are), raised before any work starts, instead of a
traceback from deep inside a convolution or a silent wrong answer (``x * 255``)."""
from __future__ import annotations

import math

import torch

from fm_core.errors import UserError
from fm_core.fourier import PARTS


def check_images(model, x, y=None) -> None:
    """x (N, C, H, W), finite, in [0, 1], at the network's size; y, when given, (N,)
    whole-number labels."""
    if not isinstance(x, torch.Tensor):
        raise UserError(f"images must be a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4 or x.shape[0] == 0:
        raise UserError(f"images must have shape (N, C, H, W) with N > 0, got {tuple(x.shape)}")
    size = getattr(model, "meta", {}).get("size")
    if size is not None and tuple(x.shape[-2:]) != (int(size), int(size)):
        raise UserError(f"images are {x.shape[-2]}x{x.shape[-1]} but the network expects {size}x{size}")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise UserError(f"images must be finite and lie in [0, 1] (pixel units), got values from "
                        f"{float(x.min()):.3g} to {float(x.max()):.3g}")
    if y is None:
        return
    y = torch.as_tensor(y)
    if y.dim() != 1 or len(y) != len(x):
        raise UserError(f"labels must have shape ({len(x)},), got {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex():
        raise UserError(f"labels must be whole numbers (class indices), got {y.dtype}")
    classes = getattr(model, "meta", {}).get("num_classes")
    if len(y) and (int(y.min()) < 0 or (classes is not None and int(y.max()) >= int(classes))):
        raise UserError(f"labels must lie in 0..{'C-1' if classes is None else int(classes) - 1}, "
                        f"got {int(y.min())}..{int(y.max())}")


def _numbers(value):
    return list(value) if isinstance(value, (list, tuple)) or hasattr(value, "__len__") else [value]


NON_NEGATIVE = ("lam", "lams", "tol", "inv_tol", "sparsity_tol")
POSITIVE = ("lr", "eps", "keep_ratio")
COUNTS = ("batch_size", "max_steps", "patience", "epochs", "window", "schedule_steps", "top_k", "checkpoint_every")


def check_settings(**settings) -> None:
    """Each named setting in its range: those in :data:`NON_NEGATIVE` finite and >= 0,
    :data:`POSITIVE` finite and > 0, :data:`COUNTS` whole and >= 1 (``patience`` >= 0),
    ``part`` one of :data:`fm_core.fourier.PARTS`;
    ``None`` is left to the learner, which allows it where its dataclass does."""
    for name, value in settings.items():
        if value is None:
            continue
        if name in NON_NEGATIVE + POSITIVE:
            values = _numbers(value)
            low_ok = (lambda v: v >= 0) if name in NON_NEGATIVE else (lambda v: v > 0)
            if not values or not all(isinstance(v, (int, float)) or hasattr(v, "__float__") for v in values) \
                    or not all(math.isfinite(float(v)) and low_ok(float(v)) for v in values):
                bound = ">= 0" if name in NON_NEGATIVE else "> 0"
                raise UserError(f"{name} must be finite and {bound}, got {value!r}")
        elif name == "part":
            if value not in PARTS:
                raise UserError(f"part must be one of {', '.join(PARTS)}, got {value!r}")
        elif name in COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "patience" else 1):
                raise UserError(f"{name} must be a whole number >= {0 if name == 'patience' else 1}, got {value!r}")


def check_overrides(cls, overrides: dict) -> dict:
    """The settings a caller gave a learner's ``from_profile``, ``None`` included
    (``exp_cap=None`` chooses the paper's uncapped exp; a setting left out keeps the
    profile's); a name the learner does not have is one line."""
    unknown = sorted(set(overrides) - set(cls.__dataclass_fields__))
    if unknown:
        raise UserError(f"{cls.__name__} has no setting(s) {', '.join(unknown)}")
    return overrides

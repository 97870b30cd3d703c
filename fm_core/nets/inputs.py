"""One check for what a caller hands to any learner or method: images, labels and
settings (each class declares the rule of each field in ``constraints``, from the
vocabulary here). Each mistake is one :class:`~fm_core.errors.UserError` line (a ``ValueError``,
as scikit-learn's input errors are), raised before any work starts, instead of a
traceback from deep inside a convolution or a silent wrong answer (``x * 255``)."""
from __future__ import annotations

import math

import torch

from fm_core.errors import UserError


def check_images(model, x, y=None) -> None:
    """x (N, C, H, W), finite, in [0, 1], at the network's size; y, when given, (N,)
    whole-number labels."""
    if not isinstance(x, torch.Tensor):
        raise UserError(f"images must be a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4 or x.shape[0] == 0:
        raise UserError(f"images must have shape (N, C, H, W) with N > 0, got {tuple(x.shape)}")
    channels = getattr(model, "channels", None)
    if channels is not None and x.shape[1] != channels:
        raise UserError(f"images have {x.shape[1]} channel(s) but the network takes {channels}")
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


class Constraint:
    """One rule a setting obeys, declared beside the setting's field (as scikit-learn's
    ``_parameter_constraints``); ``None`` always passes, since a field that may not be
    ``None`` has no ``None`` default to start from."""

    def __init__(self, accepts, words: str):
        self.accepts, self.words = accepts, words

    def check(self, name: str, value) -> None:
        if value is not None and not self.accepts(value):
            raise UserError(f"{name} must be {self.words}, got {value!r}")


def _reals(value, low_ok) -> bool:
    """Whether ``value`` (a number or a sequence of them) is all finite numbers passing ``low_ok``."""
    values = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "__len__") else [value]
    return bool(values) and all(isinstance(v, (int, float)) or hasattr(v, "__float__") for v in values) \
        and all(math.isfinite(float(v)) and low_ok(float(v)) for v in values)


NON_NEGATIVE = Constraint(lambda v: _reals(v, lambda f: f >= 0), "finite and >= 0")
POSITIVE = Constraint(lambda v: _reals(v, lambda f: f > 0), "finite and > 0")


def count(low: int = 1) -> Constraint:
    """A whole number >= ``low`` (not a bool)."""
    return Constraint(lambda v: not isinstance(v, bool) and isinstance(v, int) and v >= low,
                      f"a whole number >= {low}")


def one_of(options) -> Constraint:
    return Constraint(lambda v: v in options, f"one of {', '.join(options)}")


def check_constraints(settings) -> None:
    """Every field of ``settings`` (a learner's or a method's dataclass) against the rule
    its class declares for it in ``constraints``."""
    for name, constraint in type(settings).constraints.items():
        constraint.check(name, getattr(settings, name))


def check_overrides(cls, overrides: dict) -> dict:
    """The settings a caller gave a learner's ``from_profile``, ``None`` included
    (``exp_cap=None`` chooses the paper's uncapped exp; a setting left out keeps the
    profile's); a name the learner does not have is one line."""
    unknown = sorted(set(overrides) - set(cls.__dataclass_fields__))
    if unknown:
        raise UserError(f"{cls.__name__} has no setting(s) {', '.join(unknown)}")
    return overrides

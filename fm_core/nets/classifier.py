"""Any image classifier as the mask learners and the peer methods see it.

The learners need a network in two halves, ``normalize`` (pixels in [0, 1] to what the
network's first layer takes) and ``core`` (the rest), because a Fourier mask acts on the
normalised image, as in the paper. Our :class:`~fm_core.nets.models.MaskedClassifier`
has both. Any other ``torch.nn.Module``, or any callable, that maps images (N, C, H, W)
to logits (N, K) is split by :func:`as_classifier`: its normalisation, when given the
torchattacks way (``learner.set_normalization_used(mean, std)``: the network takes
normalised images), is the first half; without one, the first half is the identity and
the mask acts on the pixels. The two differ only at the zero frequency (the mean
brightness, which normalising shifts), so giving a network's normalisation separately
gives the paper's mask; :func:`checked_network` checks a network against the images
given, one :class:`~fm_core.errors.UserError` line per mismatch.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from fm_core.errors import UserError
from fm_core.fourier import model_device_dtype

from .inputs import check_images
from .models import MaskedClassifier, frozen


class NormalizationUsed:
    """torchattacks' ``set_normalization_used(mean, std)`` for a learner or a method: the
    network takes images normalised per channel, ``(x - mean) / std``; ``None`` (the
    default): it takes images in [0, 1] (or normalises inside)."""

    normalization = None  # (mean, std), one number or one per channel

    def set_normalization_used(self, mean, std):
        """Say how the network expects its images normalised; returns the learner."""
        self.normalization = (mean, std)
        return self


class _Function(nn.Module):
    """A plain callable as a module, so that it can be frozen and hooked like one."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


class Classifier(nn.Module):
    """``core(normalize(x))`` for a network defined anywhere: ``core`` the caller's own
    module (frozen and restored in place by the learners), ``normalize`` per channel."""

    def __init__(self, network, mean, std):
        super().__init__()
        self.core = network if isinstance(network, nn.Module) else _Function(network)
        device, dtype = model_device_dtype(self.core)
        mean, std = (torch.as_tensor(v, dtype=dtype).to(device) for v in (mean, std))
        lengths = {len(v) for v in (mean, std) if v.dim() == 1}
        if mean.dim() > 1 or std.dim() > 1 or len(lengths) > 1 or (std <= 0).any() \
                or not (mean.isfinite().all() and std.isfinite().all()):
            raise UserError(f"normalization must be (mean, std): one number or one per channel each, "
                            f"std > 0, got mean {mean.tolist()} and std {std.tolist()}")
        takes = getattr(network, "channels", None)  # an exported network knows its input
        if lengths and takes and lengths != {takes}:
            raise UserError(f"the normalization has {lengths.pop()} values per channel but the network takes "
                            f"{takes} channels")
        # what check_images holds the images to (None: any number of channels)
        self.channels = lengths.pop() if lengths else takes
        self.register_buffer("mean", mean.reshape(-1, 1, 1) if mean.dim() else mean)
        self.register_buffer("std", std.reshape(-1, 1, 1) if std.dim() else std)
        self.meta = {}

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.core(self.normalize(x))


def as_classifier(model, normalization=None) -> nn.Module:
    """The network with ``normalize`` and ``core``: ours (or one made here) as it is,
    any other module or callable wrapped in :class:`Classifier`. ``normalization``:
    (mean, std) that the network expects its inputs normalised by; None: it takes [0, 1]
    images (mean 0, std 1, which leave every number exactly as it is)."""
    if isinstance(model, (MaskedClassifier, Classifier)):
        if normalization is not None:
            raise UserError("this network normalises its images itself; do not give a normalization as well")
        return model
    if not callable(model):
        raise UserError(f"the model must be a torch.nn.Module or a callable mapping images (N, C, H, W) "
                        f"in [0, 1] to logits (N, K), got {type(model).__name__}")
    devices = {t.device for t in (*model.parameters(), *model.buffers())} if isinstance(model, nn.Module) else set()
    if len(devices) > 1:
        raise UserError(f"the network's weights are on several devices ({', '.join(sorted(map(str, devices)))}); "
                        "put it on one with .to(device)")
    return Classifier(model, *(normalization if normalization is not None else (0.0, 1.0)))


def _probe(net: nn.Module, x: torch.Tensor, y) -> None:
    """Run a network we did not build on one image: what it takes and gives, one line each."""
    device, dtype = model_device_dtype(net)
    try:
        with torch.no_grad():
            logits = net(x[:1].to(device, dtype))
    except Exception as exc:  # the network's own error on this input: channels, size, dtype
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"the network cannot take images of shape {tuple(x.shape[1:])} (C, H, W): "
                        f"{first[:160]}") from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != 1:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise UserError(f"the network must give logits of shape (N, K) for images (N, C, H, W); "
                        f"for one image it gave {shape}")
    classes = logits.shape[1]
    if y is not None and len(y) and int(torch.as_tensor(y).max()) >= classes:
        raise UserError(f"labels must lie in 0..{classes - 1} (the network gives {classes} logits), "
                        f"got up to {int(torch.as_tensor(y).max())}")


@contextmanager
def checked_network(model, x, y=None, normalization=None):
    """``with checked_network(model, x, y, normalization) as net:`` the network as
    :func:`as_classifier` gives it, checked against x and y (:func:`check_images`; a
    network not built here also runs once on one image, so that a wrong channel count,
    size or output shape is one line), and frozen inside (eval mode, no parameter
    gradients; as it was given on the way out, as torchattacks leaves a model). A network
    that is already a :class:`Classifier` was checked when it was made into one, so a
    method that hands it on to a learner runs it once less."""
    net = as_classifier(model, normalization)
    check_images(net, x, y)
    with frozen(net):
        if net is not model:
            _probe(net, x, y)
        yield net

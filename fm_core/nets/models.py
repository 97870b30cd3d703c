"""Networks: torchvision's VGG11-bn and ResNet18 for one-channel images.

A model is ``Normalize -> [mask slot] -> core``: inputs (and attacks) live in [0, 1]
pixel space, while a Fourier mask acts on the normalised image, as in the paper.
The paper profile uses torchvision's exact architectures (first conv 1 -> 64); small
profiles narrow every layer by a width factor and use a global-pool head.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg

from fm_core.data import validate
from fm_core.errors import UserError
from fm_core.utils import atomic_path

ARCHS = ("vgg11_bn", "resnet18")
MODEL_FORMAT = "fm_core.model/1"


def _scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


def build_vgg11_bn(num_classes: int, width: float = 1.0, pooled_head: bool = False) -> nn.Module:
    if width == 1.0 and not pooled_head:
        net = tv_vgg.vgg11_bn(weights=None, num_classes=num_classes)
    else:
        cfg = [v if v == "M" else _scaled(v, width) for v in tv_vgg.cfgs["A"]]
        # torchvision's VGG class without its 25088x4096 head: made on the meta device, so
        # the 120M weights that the narrow network replaces are never drawn (that took a
        # second per model built or loaded)
        with torch.device("meta"):
            net = tv_vgg.VGG(nn.Identity(), num_classes=num_classes, init_weights=False)
        net.features = tv_vgg.make_layers(cfg, batch_norm=True)
        if pooled_head:
            net.avgpool = nn.AdaptiveAvgPool2d(1)
            net.classifier = nn.Linear(cfg[-2], num_classes)
        else:
            net.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            net.classifier = nn.Sequential(
                nn.Linear(cfg[-2] * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 4096),
                nn.ReLU(True), nn.Dropout(), nn.Linear(4096, num_classes))
        _init_as_torchvision_vgg(net)
    first = net.features[0]
    net.features[0] = nn.Conv2d(1, first.out_channels, kernel_size=3, padding=1)
    return net


def _init_as_torchvision_vgg(net: nn.Module) -> None:
    """torchvision's VGG initialisation (``init_weights=True``)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)


class _NarrowResNet18(tv_resnet.ResNet):
    """torchvision's ResNet18 with every stage's channels multiplied by ``width``."""

    def __init__(self, num_classes: int, width: float):
        self._width = width
        self._stem_channels = _scaled(64, width)
        super().__init__(tv_resnet.BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.conv1 = nn.Conv2d(1, self._stem_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self._stem_channels)
        self.fc = nn.Linear(_scaled(512, width), num_classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # first stage: its input is the (narrowed) stem
            self.inplanes = self._stem_channels
        return super()._make_layer(block, _scaled(planes, self._width), blocks, stride, dilate)


def build_resnet18(num_classes: int, width: float = 1.0, pooled_head: bool = True) -> nn.Module:
    # ResNet's head is always a global pool; pooled_head changes nothing here.
    if width == 1.0:
        net = tv_resnet.resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        return net
    return _NarrowResNet18(num_classes, width)


BUILDERS = {"vgg11_bn": build_vgg11_bn, "resnet18": build_resnet18}


class MaskedClassifier(nn.Module):
    """``core(mask(normalize(x)))`` for x in [0, 1], shape (B, 1, H, W).

    ``mask`` is an identity until a :class:`fm_core.masks.FourierMask` is put there;
    ``meta`` holds everything needed to rebuild the model (see :func:`save_model`)."""

    def __init__(self, core: nn.Module, mean: float, std: float, meta: dict):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        self.mask: nn.Module = nn.Identity()
        self.core = core
        self.meta = dict(meta)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.core(self.mask(self.normalize(x)))

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    @property
    def channels(self) -> int:
        """Input channels: every network built here takes one (grayscale) channel."""
        return int(self.meta.get("channels", 1))


def build_model(arch: str, num_classes: int, size: int, mean: float, std: float,
                width: float = 1.0, pooled_head: bool = False, **meta) -> MaskedClassifier:
    if arch not in BUILDERS:
        raise UserError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if arch == "vgg11_bn" and size < 32:  # five 2x2 poolings
        raise UserError(f"vgg11_bn needs images of at least 32x32, these are {size}x{size} (try --arch resnet18)")
    core = BUILDERS[arch](num_classes, width=width, pooled_head=pooled_head)
    meta = dict(meta, arch=arch, num_classes=num_classes, size=size, mean=float(mean),
                std=float(std), width=width, pooled_head=pooled_head)
    return MaskedClassifier(core, mean, std, meta)


def save_model(model: MaskedClassifier, path) -> None:
    """A plain tensor file: the core's weights and a JSON string of metadata.

    It loads with ``torch.load(weights_only=True)``: no code runs on loading."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.core.state_dict().items()}
    meta_json = json.dumps(model.meta, sort_keys=True, default=str)
    payload = {"format": MODEL_FORMAT, "state_dict": state, "meta_json": meta_json,
               "sha256": weights_digest(state, meta_json)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a Python file: a full disk is an OSError, not a C++ error
            torch.save(payload, fh)


def weights_digest(state: dict, meta_json: str) -> str:
    """sha256 of a model file's content (names, dtypes, shapes and bytes of every tensor,
    and the metadata): a model file carries it, so a flipped byte is caught on loading."""
    digest = hashlib.sha256(meta_json.encode())
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def load_model(path, device: str | torch.device = "cpu") -> MaskedClassifier:
    """Rebuild a saved model, in eval mode. A file that is not a plain tensor file
    (for example a pickle that would run code) is refused with a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of hostile files
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # code or objects that would run or be built on loading
        raise UserError(f"refusing {path}: not a plain tensor file (it holds pickled code or objects, "
                        "which are never loaded)") from None
    except Exception as exc:  # truncated, not a zip, junk
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"refusing {path}: not a plain tensor file ({first[:120]})") from None
    meta = validate.model_meta(path, payload)
    if "sha256" in payload and payload["sha256"] != weights_digest(payload["state_dict"], payload["meta_json"]):
        raise UserError(f"{path}: damaged model file (its weights do not match its checksum)")
    try:
        model = build_model(meta.pop("arch"), meta.pop("num_classes"), meta.pop("size"),
                            meta.pop("mean"), meta.pop("std"), width=meta.pop("width"),
                            pooled_head=meta.pop("pooled_head"), **meta)
        model.core.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, ValueError) as exc:  # weights that do not fit the architecture
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{path}: damaged model file (weights do not fit its architecture: {first[:120]})") from None
    return model.to(device).eval()


@contextmanager
def frozen(model: nn.Module):
    """``with frozen(model):`` eval mode and no parameter gradients inside, and on the way
    out every module's training flag and every parameter's ``requires_grad`` as they were
    (a caller's model comes back as it was given, as torchattacks' attacks and Captum's
    methods leave it)."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    freeze(model)
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, requires in grads:
            p.requires_grad_(requires)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no parameter gradients: the network masks are learned for."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model

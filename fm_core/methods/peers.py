"""Peer methods on the same networks: one attribution interface for four frequency maps.

Modelled on Captum's ``attribute()``: a method is a small configured class, called as
``Method(settings).attribute(model, x, y) -> FrequencyMap``. A :class:`FrequencyMap`
holds an (H, W) map in the unshifted FFT layout (DC at [0, 0]; higher = more used by
the network), what it cost (forward and backward passes, counted by hooks on the
network while the method ran, and wall seconds) and the method's settings.

- :class:`DatasetMaskMethod`: the dataset mask of Karantzas et al. (2022), learned by
  :class:`fm_core.masks.DatasetMask` (not the mask *layer* of :mod:`fm_core.fourier`).
- :class:`FourierHeatMap`: Yin et al. (2019), "A Fourier perspective on model robustness
  in computer vision" (NeurIPS): error rate and loss increase when one Fourier basis
  image of L2 norm eps, with a random sign per image, is added (clipped to [0, 1]).
- :class:`FrequencyAblation`: the dominant frequency map of Wang et al. (2023), "What do
  neural networks learn in image classification? A frequency shortcut perspective"
  (ICCV): loss increase when one frequency pair (k, -k) is removed from the image's
  spectrum; ``top_k`` adds their binary map (the DFM).
- :class:`GradientSpectrum`: mean |FFT2(dL/dx)|^2 per frequency, one backward per image.

The heat map and the ablation visit each *pair* {k, -k} once (:func:`frequency_pairs`:
the half-spectrum H x (W//2+1) without the bins it holds twice), since a real image
cannot be changed at k without -k; the result is mirrored to the full grid. Images are
(N, C, H, W) in [0, 1]; work runs in batches on the network's device.

Size: the four methods side by side with their one interface and shared checks (the
pair helpers are in :mod:`~fm_core.methods.pairs`); each class's docstring says what the
method computes and why, which a reader compares across methods.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from fm_core.errors import UserError
from fm_core.fourier import model_device_dtype
from fm_core.masks import DatasetMask, DatasetMaskSettings, LambdaPath, randomized_rows
from fm_core.nets.classifier import NormalizationUsed, checked_network
from fm_core.nets.inputs import NON_NEGATIVE, POSITIVE, check_constraints, count
from fm_core.profiles import Profile
from .pairs import frequency_pairs, mirrored, pair_indicators, pair_values
from .reliability import split_half_reliability  # noqa: F401 (with the maps it rates)
from fm_core.utils import load_npz, progress_bar, save_npz_atomic

MAP_FORMAT = "fm_core.frequency_map/1"


# ------------------------------------------------------------------------- the result
@dataclass
class FrequencyMap:
    """``values``: (H, W) float, unshifted, higher = more used. ``cost``: forward_passes and
    backward_passes (images through the network), network_calls, seconds, and source
    ("measured" or "record": derived from a stored artefact's record). ``extra``: other
    (H, W) maps a method also yields (the heat map's error rate, the binary DFM)."""

    values: np.ndarray
    method: str
    cost: dict
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def save(self, path) -> None:
        arrays = {f"extra_{k}": np.asarray(v) for k, v in self.extra.items()}
        save_npz_atomic(path, map=np.asarray(self.values, np.float64), method=np.array(self.method),
                        format=np.array(MAP_FORMAT), cost=np.array(json.dumps(self.cost, sort_keys=True)),
                        settings=np.array(json.dumps(self.settings, sort_keys=True, default=str)), **arrays)

    @classmethod
    def load(cls, path) -> "FrequencyMap":
        a = load_npz(path)
        if str(a.get("format", "")) != MAP_FORMAT:
            raise UserError(f"{path} is not a frequency map ({MAP_FORMAT})")
        return cls(values=a["map"], method=str(a["method"]), cost=json.loads(str(a["cost"])),
                   settings=json.loads(str(a["settings"])),
                   extra={k[6:]: v for k, v in a.items() if k.startswith("extra_")})


class PassCounter:
    """Counts images through the network while active: a forward hook on ``model.core``
    (the network proper; the model itself if it has no core) counts each forward, and a
    gradient hook on its output counts each backward that reaches it. Counting at the
    network, not at the method's call sites, also catches passes inside learners."""

    def __init__(self, model):
        self.module = getattr(model, "core", model)
        self.forward = self.backward = self.calls = 0
        self.seconds = 0.0

    def _hook(self, module, inputs, output):
        n = int(output.shape[0])
        self.forward, self.calls = self.forward + n, self.calls + 1
        if output.requires_grad:
            output.register_hook(lambda grad: self._add_backward(n))

    def _add_backward(self, n):
        self.backward += n

    def __enter__(self):
        self._handle = self.module.register_forward_hook(self._hook)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self._start
        self._handle.remove()

    def cost(self) -> dict:
        return {"forward_passes": self.forward, "backward_passes": self.backward,
                "network_calls": self.calls, "seconds": round(self.seconds, 4), "source": "measured"}


# --------------------------------------------------------------------------- checks
def _leaves_model_as_given(attribute):
    """A method's ``attribute`` gets the network as :func:`fm_core.nets.classifier.checked_network`
    gives it (any classifier, with the method's normalisation; checked against the inputs;
    frozen, and given back with its training flags and gradients as they were) and the
    inputs on its device."""
    @functools.wraps(attribute)
    def wrapped(self, model, x, y, progress: bool = True):
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        with checked_network(model, x, y, self.normalization) as net:
            device, dtype = model_device_dtype(net)
            return attribute(self, net, x.to(device, dtype), y.to(device).long(), progress=progress)
    return wrapped


def _pair_chunks(n_pairs: int, n_images: int, batch_size: int, desc: str, progress: bool):
    """Slices of pairs such that pairs x images fills about one batch."""
    step = max(1, batch_size // n_images)
    return progress_bar(range(0, n_pairs, step), progress=progress, desc=desc, unit="chunk"), step


# -------------------------------------------------------------------------- methods
_SMALL = Profile(name="defaults")  # the small profiles' dataset-mask settings, written once (profiles.py)


# The lambda path of the mask map, as multiples of the profile's lambda. Chosen without the
# cue truth: on six disjoint 64-image subsets of the quick validation split, this grid's
# mean map made held-out accuracy fall fastest when its top frequencies were deleted
# (deletion and insertion areas, fm_core.methods.faithfulness) among the one-lambda mask
# and the grids tried; README, "How the mask map was chosen".
MASK_PATH = (0.1, 0.25, 0.5, 1.0, 2.5)
# Each row starts from, and prices its bins by, its own draw in [MASK_RANDOMIZE, 1]
# (fm_core.masks.randomized_rows); chosen the same way: on the same subsets it made held-out
# accuracy fall faster on deletion than the plain path, for both networks (README).
MASK_RANDOMIZE = 0.5


@dataclass
class DatasetMaskMethod(DatasetMaskSettings):
    """The dataset mask (Karantzas et al. 2022) as a frequency map: masks of
    :class:`fm_core.masks.DatasetMask` learned at the lambdas ``lam * path`` in one batched
    run (:class:`fm_core.masks.LambdaPath`), with the small profiles' settings, not the
    paper's batch-1 ones; the map is their mean, the fraction of the path each frequency
    survives. Why a path: a sparse mask at one lambda keeps a set of frequencies that
    suffices, and the network's other cue frequencies sit at zero with the cue-free ones,
    unranked; down the path (smaller lambdas) they come back before those, and rows that
    start apart and price bins at random (``randomize``: the randomized lasso,
    :func:`fm_core.masks.randomized_rows`) keep different members of a redundant set.
    ``path=(1.0,), randomize=1.0`` is the paper's one-lambda mask. The budget is in steps,
    so a map of 64 images gets as many updates as one of 5,000.

    Parameters and result are the same for every method: ``attribute(model, x, y)`` with
    ``x`` (N, C, H, W) in [0, 1] and ``y`` (N,) labels returns a :class:`FrequencyMap`
    (``values`` (H, W), unshifted, higher = more used; ``cost``; ``settings``, with each
    row's ``lams``, ``row_steps`` and ``row_converged``; ``extra["masks"]`` the rows). The
    model comes back as it was given; bad inputs raise one :class:`~fm_core.errors.UserError` line.
    Per channel, the rows are (C, H, W) and the map their mean over channels too.
    """

    lr: float = _SMALL.dmask_lr
    max_steps: int | None = _SMALL.dmask_max_steps
    batch_size: int = _SMALL.dmask_batch_size
    window: int | None = _SMALL.dmask_window
    tol: float = _SMALL.dmask_tol
    patience: int = _SMALL.dmask_patience
    schedule: str = _SMALL.dmask_schedule
    revert: bool = _SMALL.dmask_revert
    invariance: str = _SMALL.dmask_invariance
    path: tuple = MASK_PATH
    lam: float = DatasetMask.lam
    randomize: float = MASK_RANDOMIZE  # 1.0: every row starts at ones under the plain L1
    name = "mask"

    constraints: ClassVar[dict] = dict(DatasetMaskSettings.constraints, lam=NON_NEGATIVE)
    profile_settings: ClassVar[dict] = dict(DatasetMaskSettings.profile_settings, lam="dmask_lam")

    def __post_init__(self):
        self.path = tuple(float(f) for f in np.atleast_1d(self.path))
        if not self.path or min(self.path) <= 0:
            raise UserError(f"path must hold positive multiples of lam, got {self.path}")
        if not 0 < self.randomize <= 1:
            raise UserError(f"randomize must be in (0, 1], got {self.randomize}")

    @_leaves_model_as_given
    def attribute(self, model, x, y, progress: bool = True) -> FrequencyMap:
        check_constraints(self)  # lam itself, before it is multiplied out
        settings = {f.name: getattr(self, f.name) for f in fields(DatasetMaskSettings)}
        learner = LambdaPath(lams=tuple(self.lam * f for f in self.path), **settings)
        start, weights = randomized_rows(len(self.path), tuple(x.shape[-2:]), self.randomize, self.seed)
        with PassCounter(model) as counter:
            result = learner(model, x, y, start=start, penalty_weights=weights, progress=progress)
        converged = result.converged.astype(bool)
        rows = result.masks.reshape(-1, *result.masks.shape[-2:])  # per-channel masks: a row each
        return FrequencyMap(rows.mean(0).astype(np.float64), self.name, counter.cost(),
                            dict(result.settings, lam=float(self.lam), path=list(self.path), randomize=self.randomize,
                                 converged=bool(converged.all()), steps=int(result.steps.max()),
                                 row_steps=result.steps.tolist(), row_converged=converged.tolist()),
                            extra={"masks": result.masks})

    @staticmethod
    def from_result(result) -> FrequencyMap:
        """A stored one-lambda :class:`~fm_core.masks.result.MaskResult` as a map (the
        ``path=(1.0,)`` map), its cost derived from what it records (images n, steps S of b
        images, checks every ``window`` steps), as :func:`learn_lambda_path` spends it:
        reference losses, outputs and accuracy before (one pass, n forwards), a forward and
        backward per image of each step, the masked accuracy at every window's end (n
        each). Seconds are not recorded, so NaN."""
        s = result.settings
        n, steps, batch = int(s["images"]), int(result.steps[0]), int(s["batch_size"])
        # accuracy at every window's end under the paper's revert rule, else once at the end
        checks = -(-steps // int(s["window"])) if s.get("revert", True) else 1
        cost = {"forward_passes": n + steps * batch + checks * n, "backward_passes": steps * batch,
                "network_calls": None, "seconds": float("nan"), "source": "record"}
        return FrequencyMap(result.mask.astype(np.float64), DatasetMaskMethod.name, cost,
                            dict(s, path=[1.0], randomize=1.0, converged=bool(result.converged[0]), steps=steps))


@dataclass
class FourierHeatMap(NormalizationUsed):
    """Yin et al. (2019): per pair k, the error rate and the mean loss increase on x + r eps U_k,
    U_k the real Fourier basis image of unit L2 norm (pixel units), r = +-1 drawn per image
    and pair (:func:`heat_map_signs`), clipped to [0, 1]. ``values`` is the loss increase
    (finer than the error rate, which ``extra["error_rate"]`` holds).

    Parameters and result are the same for every method: ``attribute(model, x, y)`` with
    ``x`` (N, C, H, W) in [0, 1] and ``y`` (N,) labels returns a :class:`FrequencyMap`
    (``values`` (H, W), unshifted, higher = more used; ``cost``; ``settings``). The model
    comes back as it was given; bad inputs raise one :class:`~fm_core.errors.UserError` line.
    """

    eps: float = 4.0  # Yin et al.'s CIFAR-10 setting, L2 in [0, 1] pixel units
    batch_size: int = 1024
    seed: int = 0
    name = "heatmap"

    constraints: ClassVar[dict] = dict(eps=POSITIVE, batch_size=count())

    def __post_init__(self):
        check_constraints(self)

    @_leaves_model_as_given
    def attribute(self, model, x, y, progress: bool = True) -> FrequencyMap:
        (n, _, h, w), pairs = x.shape, frequency_pairs(*x.shape[-2:])
        bases = basis_images(h, w, pairs).to(x)
        signs = heat_map_signs(len(pairs), n, self.seed).to(x)
        loss, errors = torch.zeros(len(pairs), n), torch.zeros(len(pairs))
        with PassCounter(model) as counter, torch.no_grad():
            clean = F.cross_entropy(model(x), y, reduction="none").cpu()
            chunks, step = _pair_chunks(len(pairs), n, self.batch_size, "heat map", progress)
            for start in chunks:
                b = bases[start:start + step]  # (B, H, W)
                pert = (x[None] + self.eps * signs[start:start + step, :, None, None, None]
                        * b[:, None, None]).clamp(0, 1)
                logits = model(pert.reshape(-1, *x.shape[1:]))
                yy = y.repeat(len(b))
                loss[start:start + len(b)] = F.cross_entropy(logits, yy, reduction="none").view(len(b), n).cpu()
                errors[start:start + len(b)] = (logits.argmax(1) != yy).float().view(len(b), n).mean(1).cpu()
        increase = (loss - clean).numpy()  # (pairs, images)
        return FrequencyMap(mirrored(increase.mean(1), h, w, pairs), self.name, counter.cost(),
                            dict(asdict(self), images=n, pairs=len(pairs),
                                 split_half_reliability=split_half_reliability(increase)),
                            extra={"error_rate": mirrored(errors.numpy(), h, w, pairs)})


def basis_images(h: int, w: int, pairs: np.ndarray) -> torch.Tensor:
    """(P, H, W): Re IFFT2 of a unit spike at each pair's bin, scaled to unit L2 norm (a
    cosine plane wave; a constant at DC, an alternating pattern at a Nyquist bin)."""
    spikes = torch.zeros(len(pairs), h, w, dtype=torch.complex128)
    spikes[torch.arange(len(pairs)), torch.as_tensor(pairs[:, 0]), torch.as_tensor(pairs[:, 1])] = 1.0
    images = torch.fft.ifft2(spikes).real
    return (images / images.flatten(1).norm(dim=1)[:, None, None]).float()


def heat_map_signs(n_pairs: int, n_images: int, seed: int = 0) -> torch.Tensor:
    """(n_pairs, n_images) of +-1, the heat map's random sign r per pair and image (seeded)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (n_pairs, n_images), generator=g).float() * 2 - 1


@dataclass
class FrequencyAblation(NormalizationUsed):
    """Wang et al. (2023): per pair k, the mean loss increase when k and -k are removed from
    each image's spectrum (pixel space; no clipping, as removal keeps the rest exact).
    ``top_k``: also the binary dominant frequency map of the top_k pairs, ``extra["dfm"]``;
    ``extra["accuracy_drop"]`` holds the accuracy lost per pair.

    Parameters and result are the same for every method: ``attribute(model, x, y)`` with
    ``x`` (N, C, H, W) in [0, 1] and ``y`` (N,) labels returns a :class:`FrequencyMap`
    (``values`` (H, W), unshifted, higher = more used; ``cost``; ``settings``). The model
    comes back as it was given; bad inputs raise one :class:`~fm_core.errors.UserError` line.
    """

    top_k: int | None = None
    batch_size: int = 1024
    name = "ablation"

    constraints: ClassVar[dict] = dict(top_k=count(), batch_size=count())

    def __post_init__(self):
        check_constraints(self)

    @_leaves_model_as_given
    def attribute(self, model, x, y, progress: bool = True) -> FrequencyMap:
        (n, _, h, w), pairs = x.shape, frequency_pairs(*x.shape[-2:])
        indicators = pair_indicators(h, w, pairs).to(x.device)
        spectrum = torch.fft.fft2(x)
        loss, correct = torch.zeros(len(pairs), n), torch.zeros(len(pairs))
        with PassCounter(model) as counter, torch.no_grad():
            logits = model(x)
            clean = F.cross_entropy(logits, y, reduction="none").cpu()
            clean_acc = (logits.argmax(1) == y).float().mean().item()
            chunks, step = _pair_chunks(len(pairs), n, self.batch_size, "ablation", progress)
            for start in chunks:
                ind = indicators[start:start + step]
                removed = x[None] - torch.fft.ifft2(ind[:, None, None] * spectrum[None]).real
                logits = model(removed.reshape(-1, *x.shape[1:]))
                yy = y.repeat(len(ind))
                loss[start:start + len(ind)] = F.cross_entropy(logits, yy, reduction="none").view(len(ind), n).cpu()
                correct[start:start + len(ind)] = (logits.argmax(1) == yy).float().view(len(ind), n).mean(1).cpu()
        per_image = (loss - clean).numpy()  # (pairs, images)
        increase = per_image.mean(1)
        extra = {"accuracy_drop": mirrored(clean_acc - correct.numpy(), h, w, pairs)}
        if self.top_k is not None:
            top = np.argsort(-increase, kind="stable")[:int(self.top_k)]
            extra["dfm"] = mirrored(np.isin(np.arange(len(pairs)), top).astype(float), h, w, pairs)
        return FrequencyMap(mirrored(increase, h, w, pairs), self.name, counter.cost(),
                            dict(asdict(self), images=n, pairs=len(pairs),
                                 split_half_reliability=split_half_reliability(per_image)), extra=extra)


@dataclass
class GradientSpectrum(NormalizationUsed):
    """Mean over images of |FFT2(dL/dx)|^2 (summed over channels), x in pixel space: how
    strongly the loss responds to each frequency near the image. One backward per image.

    Parameters and result are the same for every method: ``attribute(model, x, y)`` with
    ``x`` (N, C, H, W) in [0, 1] and ``y`` (N,) labels returns a :class:`FrequencyMap`
    (``values`` (H, W), unshifted, higher = more used; ``cost``; ``settings``). The model
    comes back as it was given; bad inputs raise one :class:`~fm_core.errors.UserError` line.
    """

    batch_size: int = 256
    name = "gradient"

    constraints: ClassVar[dict] = dict(batch_size=count())

    def __post_init__(self):
        check_constraints(self)

    @_leaves_model_as_given
    def attribute(self, model, x, y, progress: bool = True) -> FrequencyMap:
        spectra = []
        with PassCounter(model) as counter:
            bar = progress_bar(range(0, len(x), self.batch_size), progress=progress, desc="gradient", unit="batch")
            for start in bar:
                xb = x[start:start + self.batch_size].detach().requires_grad_(True)
                loss = F.cross_entropy(model(xb), y[start:start + self.batch_size], reduction="sum")
                (grad,) = torch.autograd.grad(loss, xb)
                spectra.append((torch.fft.fft2(grad.double()).abs() ** 2).sum(dim=1).cpu())
        per_image = torch.cat(spectra).flatten(1).T.numpy()  # (bins, images)
        return FrequencyMap(per_image.mean(1).reshape(x.shape[-2:]), self.name, counter.cost(),
                            dict(asdict(self), images=len(x), split_half_reliability=split_half_reliability(per_image)))


METHODS = {cls.name: cls for cls in (DatasetMaskMethod, FourierHeatMap, FrequencyAblation, GradientSpectrum)}
# the methods' names in words, for tables and figures (and the random ranking they are judged against)
METHOD_TITLES = {"mask": "Fourier mask", "heatmap": "Fourier heat map", "ablation": "frequency ablation",
                 "gradient": "gradient spectrum", "random": "random ranking"}


def get_method(name: str, **settings):
    """The method called ``name`` (mask, heatmap, ablation, gradient) with ``settings``
    (``None`` values keep the defaults)."""
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    settings = {k: v for k, v in settings.items() if v is not None}
    fields = METHODS[name].__dataclass_fields__
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise UserError(f"method {name} has no setting(s) {', '.join(unknown)}")
    return METHODS[name](**settings)

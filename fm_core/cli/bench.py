"""Benchmarks: how fast masks are learned and networks trained, as JSON of seconds and of
ratios measured in one run (never thresholds: the tests check structure, not speed).

Each case is a function of a :class:`BenchSetup` in :data:`CASES` returning
``{"seconds": ..., "ratios": ..., ...}``; ``run_bench`` runs the chosen ones and gathers
every ratio under ``ratios``. Other modules may add cases with :func:`register_case`.
The cases:

- ``batched``: (a) :func:`fm_core.masks.learn_image_masks` with the whole batch in
  one pool, (b) the same one image at a time, (c) the floor: the frozen network's own
  forward and backward pass (gradient w.r.t. the input) at the same batch, which no mask
  learner on that network can beat.
- ``mask_step``: seconds per mask step at batch sizes 1, 2, 4, ... up to the batch.
- ``precision`` / ``channels_last``: mask steps in bf16 autocast vs fp32, channels_last vs
  contiguous, and how far the masks moved apart (``agreement``).
- ``training_step``: one Adam step of the network in training mode, fp32 vs bf16 and
  channels_last vs contiguous.
- ``sharded`` and ``side_by_side`` (whole commands, :mod:`fm_core.cli.bench_processes`):
  ``fm image-masks`` as one process vs under torchrun with 2 ranks; two ``fm mask``
  commands one after the other with all cores vs side by side with half each (how the
  book runs its pages).
- ``malloc``: the same two commands side by side with glibc's default malloc vs the
  book's ``GLIBC_TUNABLES`` (:data:`fm_core.book.execute.MALLOC_TUNABLES`).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from fm_core.errors import UserError
from fm_core.masks import learn_image_masks
from fm_core.masks.objective import BF16_MASK_TOLERANCE, CHANNELS_LAST_MASK_TOLERANCE, network_logits
from fm_core.nets.models import build_model, freeze
from fm_core.paths import IMAGENETTE_MEAN, IMAGENETTE_STD
from fm_core.profiles import get_profile
from fm_core.utils import save_json_atomic

# Speed does not depend on the weights, so the default bench model is untrained.
BENCH_NOTE = "random-init weights: the speed of mask learning does not depend on the weights"


def make_bench_model(profile="quick", num_classes: int = 5, seed: int = 0):
    """The profile's architecture with random weights (mean/std: Imagenette's)."""
    profile = get_profile(profile)
    torch.manual_seed(seed)
    model = build_model(profile.arch, num_classes, profile.size, IMAGENETTE_MEAN, IMAGENETTE_STD, width=profile.width,
                        pooled_head=profile.pooled_head, profile=profile.name, bench_note=BENCH_NOTE)
    return freeze(model)


def make_bench_images(size: int, n: int = 64, seed: int = 0) -> torch.Tensor:
    """Uniform random images (n, 1, size, size) in [0, 1]."""
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn, device) -> float:
    """Wall time of ``fn()``, the device's queued work included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def bf16_supported(device) -> bool:
    """Whether bfloat16 runs natively there (a CPU without it emulates it, slowly)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


@dataclass
class BenchSetup:
    """What every case gets: a frozen model on its device, images there, the mask steps
    per timing and the largest batch."""

    model: torch.nn.Module
    x: torch.Tensor
    steps: int
    batch_size: int
    train_batch_size: int

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


CASES: dict[str, Callable[[BenchSetup], dict]] = {}


def register_case(name: str):
    """Decorator: add ``fn(setup) -> {"seconds": ..., "ratios": ..., ...}`` as a case."""
    def add(fn):
        CASES[name] = fn
        return fn
    return add


def time_masks(model, x, steps: int, batch_size: int, **options) -> tuple[float, object]:
    """(seconds, MaskResult) of ``steps`` mask steps on every image of x (patience 0, so
    every image runs exactly ``steps`` steps: steps + 1 forward-backward passes)."""
    result = []
    took = seconds(lambda: result.append(learn_image_masks(model, x, max_steps=steps, patience=0,
                                                           batch_size=batch_size, progress=False, **options)),
                   x.device)
    return took, result[0]


def network_floor(model, x: torch.Tensor, steps: int) -> None:
    """``steps`` forward+backward passes of the frozen network w.r.t. its input."""
    y = torch.zeros(len(x), dtype=torch.long, device=x.device)
    for _ in range(steps):
        z = x.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model.core(model.normalize(z)), y), z)


@register_case("batched")
def batched_case(s: BenchSetup) -> dict:
    batched, _ = time_masks(s.model, s.x, s.steps, len(s.x))
    one_at_a_time, _ = time_masks(s.model, s.x, s.steps, 1)
    floor = seconds(lambda: network_floor(s.model, s.x, s.steps), s.device)
    return {"seconds": {"batched": batched, "one_at_a_time": one_at_a_time, "floor": floor},
            "ratios": {"one_at_a_time/batched": one_at_a_time / batched, "batched/floor": batched / floor}}


@register_case("mask_step")
def mask_step_case(s: BenchSetup) -> dict:
    per_batch = {}
    b = 1
    while b <= len(s.x):
        took, _ = time_masks(s.model, s.x[:b], s.steps, b)
        per_step = took / (s.steps + 1)
        per_batch[str(b)] = {"seconds_per_step": per_step, "image_steps_per_s": b / per_step}
        b *= 2
    sizes = list(per_batch)
    rate = {k: v["image_steps_per_s"] for k, v in per_batch.items()}
    return {"per_batch_size": per_batch, "seconds": {"step_at_batch_" + sizes[-1]: per_batch[sizes[-1]]["seconds_per_step"]},
            "ratios": {f"mask_step image rate: batch {sizes[-1]}/batch 1": rate[sizes[-1]] / rate["1"]}}


def _agreement(a, b) -> dict:
    diff = np.abs(a.masks - b.masks)
    return {"mean_abs_mask_difference": float(diff.mean()), "max_abs_mask_difference": float(diff.max()),
            "same_final_predictions": float((a.final_predictions == b.final_predictions).mean())}


@register_case("precision")
def precision_case(s: BenchSetup) -> dict:
    fp32, a = time_masks(s.model, s.x, s.steps, len(s.x))
    bf16, b = time_masks(s.model, s.x, s.steps, len(s.x), precision="bf16")
    agreement = dict(_agreement(a, b), tolerance=BF16_MASK_TOLERANCE)
    agreement["within_tolerance"] = agreement["mean_abs_mask_difference"] <= BF16_MASK_TOLERANCE
    return {"bf16_native": bf16_supported(s.device), "seconds": {"fp32": fp32, "bf16": bf16},
            "ratios": {"mask_step fp32/bf16": fp32 / bf16}, "agreement": agreement}


@register_case("channels_last")
def channels_last_case(s: BenchSetup) -> dict:
    model = copy.deepcopy(s.model)  # learn_image_masks converts the network in place
    contiguous, a = time_masks(model, s.x, s.steps, len(s.x))
    last, b = time_masks(model, s.x, s.steps, len(s.x), channels_last=True)
    agreement = dict(_agreement(a, b), tolerance=CHANNELS_LAST_MASK_TOLERANCE)
    agreement["within_tolerance"] = agreement["mean_abs_mask_difference"] <= CHANNELS_LAST_MASK_TOLERANCE
    return {"seconds": {"contiguous": contiguous, "channels_last": last},
            "ratios": {"mask_step contiguous/channels_last": contiguous / last}, "agreement": agreement}


def time_training_steps(model, x, steps: int, precision: str = "fp32", channels_last: bool = False) -> float:
    """Seconds per Adam step (forward, backward, update) of a trainable copy of the
    network in training mode on x with random labels, after one untimed step."""
    net = copy.deepcopy(model).train()
    for p in net.parameters():
        p.requires_grad_(True)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    y = torch.randint(int(net.meta.get("num_classes", 2)), (len(x),), generator=torch.Generator().manual_seed(0))
    y = y.to(x.device)

    def step():
        logits = network_logits(net.core, net.normalize(x), precision, channels_last)
        loss = F.cross_entropy(logits, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    step()
    return seconds(lambda: [step() for _ in range(steps)], x.device) / steps


@register_case("training_step")
def training_step_case(s: BenchSetup) -> dict:
    x = s.x[:s.train_batch_size]
    if len(x) < s.train_batch_size:  # repeat the bench images up to the training batch
        x = x.repeat(-(-s.train_batch_size // len(x)), 1, 1, 1)[:s.train_batch_size]
    steps = max(2, s.steps // 5)
    fp32 = time_training_steps(s.model, x, steps)
    last = time_training_steps(s.model, x, steps, channels_last=True)
    bf16 = time_training_steps(s.model, x, steps, precision="bf16", channels_last=True)
    return {"batch_size": len(x), "bf16_native": bf16_supported(s.device),
            "seconds": {"fp32": fp32, "fp32_channels_last": last, "bf16_channels_last": bf16},
            "ratios": {"training_step contiguous/channels_last": fp32 / last,
                       "training_step fp32/bf16 (channels_last)": last / bf16}}


def run_bench(model, x: torch.Tensor, steps: int = 50, batch_size: int = 64, out=None, cases=None,
              train_batch_size: int | None = None) -> dict:
    """Run the named ``cases`` (default: all of :data:`CASES`) on the first ``batch_size``
    images of x with ``steps`` mask steps per timing; write JSON to ``out`` if given.
    ``seconds`` holds the ``batched`` case's times, ``ratios`` every case's ratios."""
    freeze(model)
    device = next(model.parameters()).device
    x = x[:batch_size].to(device)
    names = list(CASES) if cases is None else list(cases)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise UserError(f"unknown bench case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    setup = BenchSetup(model, x, steps, len(x), train_batch_size or len(x))
    time_masks(model, x[:2], 2, 2)  # warm-up: allocations, FFT plans, kernels
    network_floor(model, x, 2)
    results = {name: CASES[name](setup) for name in names}
    result = {
        "images": len(x),
        "steps": steps,
        "image_size": list(x.shape[-2:]),
        "cases": results,
        "seconds": results.get("batched", {}).get("seconds", {}),
        "ratios": {k: v for r in results.values() for k, v in r.get("ratios", {}).items()},
        "ratio_meaning": "a/b: seconds of a over seconds of b, or a rate of a over b; above 1, b is faster "
                         "(for 'image rate' ratios, a is faster)",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device) if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(device)})",
        "model": dict(model.meta),
    }
    if out is not None:
        save_json_atomic(out, result)
    return result


# the cases that time whole commands, in their own module (imported last: they need none of this one)
from .bench_processes import malloc_case, sharded_case, side_by_side_case  # noqa: E402

register_case("sharded")(sharded_case)
register_case("side_by_side")(side_by_side_case)
register_case("malloc")(malloc_case)

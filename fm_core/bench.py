"""How much faster batched single-image masks are than learning one image at a time.

Three timings on the same images and step count: (a) :func:`fm_core.masks.learn_image_masks`
with the whole batch in one pool, (b) the same with ``batch_size=1``, (c) the floor: the
frozen network's own forward and backward pass (gradient w.r.t. the input) at the same
batch, which no mask learner on that network can beat.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from .image_masks import learn_image_masks
from .models import build_model, freeze
from .paths import IMAGENETTE_MEAN, IMAGENETTE_STD
from .profiles import get_profile
from .utils import save_json_atomic

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


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _network_floor(model, x: torch.Tensor, steps: int) -> None:
    """``steps`` forward+backward passes of the frozen network w.r.t. its input."""
    y = torch.zeros(len(x), dtype=torch.long, device=x.device)
    for _ in range(steps):
        z = x.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model.core(model.normalize(z)), y), z)


def run_bench(model, x: torch.Tensor, steps: int = 50, batch_size: int = 64, out=None) -> dict:
    """Time ``steps`` mask-learning steps on the first ``batch_size`` images of x, batched
    and one at a time (patience 0, so every image runs exactly ``steps`` steps), and the
    network's own forward+backward floor. Writes the result as JSON to ``out`` if given."""
    freeze(model)
    device = next(model.parameters()).device
    x = x[:batch_size].to(device)
    kwargs = dict(max_steps=steps, patience=0, progress=False)
    learn_image_masks(model, x[:2], **dict(kwargs, max_steps=2))  # warm-up: allocations, FFT plans
    _network_floor(model, x, 2)

    batched = _seconds(lambda: learn_image_masks(model, x, batch_size=len(x), **kwargs))
    one_at_a_time = _seconds(lambda: learn_image_masks(model, x, batch_size=1, **kwargs))
    floor = _seconds(lambda: _network_floor(model, x, steps))
    result = {
        "images": len(x),
        "steps": steps,
        "image_size": list(x.shape[-2:]),
        "seconds": {"batched": batched, "one_at_a_time": one_at_a_time, "floor": floor},
        "ratios": {"one_at_a_time/batched": one_at_a_time / batched, "batched/floor": batched / floor},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device) if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(device)})",
        "model": dict(model.meta),
    }
    if out is not None:
        save_json_atomic(out, result)
    return result

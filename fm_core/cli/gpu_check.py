"""``fm bench --gpu-check`` (``scripts/gpu_check.sh``): is the GPU path ready, and how long
would the whole paper profile take on this machine?

It times the paper profile's single-image mask step (VGG11-bn at full width,
torchvision's head, one-channel 128x128 images, 5 classes) at batch sizes 1, 2, 4, ...,
512, in fp32 and (where the device runs it natively) bf16; one epoch of paper-profile
training for the vanilla, adversarial and one augmented regime (on Imagenette when it
is on disk, else on random images of the size of the paper's 5 Imagenette classes); and
writes JSON with those rates and the projected wall time of the whole profile
(``projection``, whose ``how`` says how each part is computed). ``tiny=True`` runs the
same code with toy sizes, so the CPU test suite keeps it from rotting.
"""
from __future__ import annotations

import inspect
import time

import numpy as np
import torch

from .bench import bf16_supported, make_bench_images, make_bench_model, time_masks
from fm_core.data.dataset import from_arrays
from fm_core.profiles import get_profile
from fm_core.nets.training import train_network
from fm_core.utils import save_json_atomic

# The paper's 5 Imagenette classes in imagenette2-160: training and validation images.
IMAGENETTE5_TRAIN, IMAGENETTE5_VAL = 4671, 1973
NUM_CLASSES = 5
# The single-image mask sets of the paper profile (the keys of fm_core.store.pipeline's
# IMAGE_MASK_SETS, which tests/test_gpu_check.py compares; not imported: it is heavy).
IMAGE_MASK_SETS = ("vanilla_x", "adversarial_x", "vanilla_xadv")
# Training regimes the check times; the other augmented regimes cost what "rotate" costs
# (a per-image torchvision transform on the host, then a plain training step).
TIMED_REGIMES = ("vanilla", "adversarial", "rotate")
# single-image mask steps per image assumed for the projection's "assumed" line; the
# low and high lines use the profile's patience + 1 and max_steps, the bounds of the rule
ASSUMED_STEPS_PER_MASK = 2000


def check_settings(tiny: bool) -> dict:
    """Sizes for the real check or for the tiny CPU run of the same code."""
    if tiny:
        return dict(profile=get_profile("paper").replace(size=32, width=0.0625, pooled_head=True, batch_size=16),
                    batch_sizes=[1, 2, 4], mask_steps=2, n_train=16, n_val=8)
    return dict(profile=get_profile("paper"), batch_sizes=[2 ** k for k in range(10)], mask_steps=10,
                n_train=IMAGENETTE5_TRAIN, n_val=IMAGENETTE5_VAL)


def mask_step_rates(profile, batch_sizes, steps: int, device, precision: str) -> dict:
    """{batch: {"seconds_per_step", "image_steps_per_s"}} (or {"error": ...} once the
    batch no longer fits) for the profile's network with random weights."""
    model = make_bench_model(profile, num_classes=NUM_CLASSES).to(device)
    rates = {}
    for b in batch_sizes:
        x = make_bench_images(profile.size, n=b).to(device)
        try:
            time_masks(model, x, 1, b, precision=precision)  # warm-up: kernels chosen for this shape
            took, _ = time_masks(model, x, steps, b, precision=precision)
        except torch.cuda.OutOfMemoryError:
            rates[str(b)] = {"error": "out of memory"}
            torch.cuda.empty_cache()
            break
        per_step = took / (steps + 1)  # steps updates, steps + 1 forward-backward passes
        rates[str(b)] = {"seconds_per_step": per_step, "image_steps_per_s": b / per_step}
    return rates


def check_dataset(profile, n_train: int, n_val: int):
    """Imagenette when it is on disk (the paper's data), else random images of its size."""
    from fm_core.data.files import IMAGENETTE_FOLDER, find_imagenette_tree, load_imagenette
    from fm_core.paths import data_dir

    root = data_dir() / IMAGENETTE_FOLDER
    if profile.size == 128 and find_imagenette_tree(root):
        return load_imagenette(root, size=128), "imagenette"
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, profile.size, profile.size), dtype=np.uint8)  # noqa: E731
    labels = lambda n: np.arange(n) % NUM_CLASSES  # noqa: E731
    return from_arrays("random", images(n_train), labels(n_train), images(n_val), labels(n_val)), "random"


def training_epoch_seconds(profile, ds, device) -> dict:
    """Seconds of one training epoch (and its validation pass) per timed regime."""
    cfg = profile.replace(epochs=1)
    kwargs = dict(progress=False, device=device)
    if "evaluate_pgd" in inspect.signature(train_network).parameters:
        kwargs["evaluate_pgd"] = False  # the final PGD evaluation is not part of an epoch
    timed = {}
    for regime in TIMED_REGIMES:
        start = time.perf_counter()
        train_network(ds, regime, cfg, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timed[regime] = time.perf_counter() - start
    return timed


def project(profile, rates: dict, epoch_seconds: dict, n_val: int) -> dict:
    """The whole profile's wall time from the measured rates (see ``how``)."""
    fp32 = rates["fp32"]
    usable = {int(b): r["image_steps_per_s"] for b, r in fp32.items() if "image_steps_per_s" in r}
    pool = max(b for b in usable if b <= profile.imask_batch_size)  # the profile's pool size, if it fit
    selected = n_val // 2  # the score half of the validation split bounds the selected images
    image_mask_steps = {"low": profile.imask_patience + 1, "assumed": ASSUMED_STEPS_PER_MASK,
                        "high": profile.imask_max_steps}
    image_masks = {k: steps * selected * len(IMAGE_MASK_SETS) / usable[pool]
                   for k, steps in image_mask_steps.items()}
    fit_half = n_val - selected
    # 5 dataset masks (one per network) and the vanilla class masks, which together take
    # 6 masks' worth of steps (the budget in steps, or epochs of the fit half at the
    # profile's batch), at the batch-1 rate when the profile's batch is 1
    dmask_steps = (profile.dmask_max_steps if profile.dmask_max_steps is not None
                   else profile.dmask_epochs * max(1, fit_half // profile.dmask_batch_size))
    dmask_batch = max(b for b in usable if b <= profile.dmask_batch_size)
    dataset_masks = 6 * dmask_steps * profile.dmask_batch_size / usable[dmask_batch]
    training = profile.epochs * (epoch_seconds["vanilla"] + epoch_seconds["adversarial"]
                                 + 3 * epoch_seconds["rotate"])  # scale, translate, rotate
    hours = {k: (image_masks[k] + dataset_masks + training) / 3600 for k in image_mask_steps}
    return {
        "hours": hours,
        "seconds": {"training": training, "dataset_and_class_masks": dataset_masks,
                    "image_masks": image_masks},
        "inputs": {"image_steps_per_s_at_pool": usable[pool], "pool_batch_size": pool,
                   "image_steps_per_s_at_batch_1": usable[1], "selected_images_per_set": selected,
                   "image_mask_sets": list(IMAGE_MASK_SETS), "steps_per_image_mask": image_mask_steps,
                   "fit_half_images": fit_half, "epochs": profile.epochs, "dmask_steps": dmask_steps},
        "how": ("training = epochs x (vanilla epoch + adversarial epoch + 3 x augmented ('rotate') epoch); "
                "image masks = steps per mask x selected images x 3 sets / fp32 image-steps per second at the "
                "profile's pool size (selected images: at most the score half of the validation split; steps "
                "per mask: low = patience + 1, high = max_steps, assumed = a middle guess); dataset and class "
                "masks = 6 masks' worth (5 dataset masks + the class masks, which share the fit half) x "
                "the step budget (dmask_max_steps, or dmask_epochs x fit-half batches) x batch size / the "
                "image-step rate at that batch (an upper bound: masks stop once they converge); hours = their sum, one GPU, nothing run in parallel"),
    }


def run_gpu_check(device, tiny: bool = False, out=None) -> dict:
    """Measure, project and (with ``out``) write the JSON; returns the dict."""
    device = torch.device(device)
    settings = check_settings(tiny)
    profile = settings["profile"]
    threads = torch.get_num_threads()
    if tiny:  # a check that the code runs, not a measurement: one thread, which a busy CPU serves best
        torch.set_num_threads(1)
    try:
        return _measure(device, tiny, settings, profile, out)
    finally:
        torch.set_num_threads(threads)


def _measure(device, tiny: bool, settings: dict, profile, out) -> dict:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    precisions = ["fp32"] + (["bf16"] if tiny or bf16_supported(device) else [])
    rates = {p: mask_step_rates(profile, settings["batch_sizes"], settings["mask_steps"], device, p)
             for p in precisions}
    ds, data = check_dataset(profile, settings["n_train"], settings["n_val"])
    epoch_seconds = training_epoch_seconds(profile, ds, device)
    result = {
        "tiny": tiny,
        "device": str(device) if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(device)})",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "network": {"arch": profile.arch, "width": profile.width, "pooled_head": profile.pooled_head,
                    "image_size": profile.size, "channels": 1, "classes": NUM_CLASSES},
        "mask_steps_timed": settings["mask_steps"],
        "mask_step": rates,
        "training": {"data": data, "train_images": len(ds.y_train), "val_images": len(ds.y_val),
                     "batch_size": profile.batch_size, "epoch_seconds": epoch_seconds},
        "projection": project(profile, rates, epoch_seconds, len(ds.y_val)),
    }
    if out is not None:
        save_json_atomic(out, result)
    return result

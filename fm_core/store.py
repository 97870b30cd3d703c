"""The artefact store: every network, mask and result is computed once and kept.

Artefacts live under ``runs/<profile>/`` (or ``$FM_RUNS_DIR/<profile>/``), named by a
key that hashes every setting they depend on plus the version of the algorithm that
made them; a notebook asks for what it needs (``get_network(cfg, "vanilla")``) and gets
it from disk or computes it. Writes are atomic (temporary file, then rename), so an
interrupted run never leaves a half-written artefact; single-image mask runs keep a
checkpoint and resume.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import torch

from . import masks as fm_masks
from .data import Dataset, load_dataset
from .models import MaskedClassifier, freeze, load_model, save_model
from .profiles import Profile, get_profile
from .training import TRAINING_VERSION, check_regime, train_network
from .utils import default_device, load_npz, save_json_atomic, save_npz_atomic, stable_hash

REPO_DIR = Path(__file__).resolve().parent.parent

DATA_FIELDS = ("data", "size", "data_seed", "n_train", "n_val")
NETWORK_FIELDS = DATA_FIELDS + ("arch", "width", "pooled_head", "seed", "epochs",
                                "batch_size", "max_lr", "pct_start", "eps_pixel", "pgd_steps")
DATASET_MASK_FIELDS = NETWORK_FIELDS + ("dmask_lam", "dmask_lr", "dmask_batch_size",
                                        "dmask_epochs", "dmask_patience")
IMAGE_MASK_FIELDS = NETWORK_FIELDS + ("imask_lam", "imask_lr", "imask_max_steps",
                                      "imask_patience", "imask_images", "imask_schedule_steps")

# The three single-image mask sets of the paper's code: (network, images).
IMAGE_MASK_SETS = {
    "vanilla_x": ("vanilla", "clean"),        # M_N,x
    "adversarial_x": ("adversarial", "clean"),  # M_A,x
    "vanilla_xadv": ("vanilla", "adversarial"),  # M_N,xA
}


def runs_dir(cfg: Profile) -> Path:
    root = Path(os.environ.get("FM_RUNS_DIR", REPO_DIR / "runs"))
    return root / cfg.name


def _data_identity(cfg: Profile) -> dict:
    """The data set's name, and for a user's file its size and modification time, so
    that an edited file does not reuse stale artefacts."""
    ident = {"data": cfg.data}
    path = Path(str(cfg.data)).expanduser()
    if cfg.data not in ("synthetic", "imagenette") and path.exists():
        stat = path.stat()
        ident.update(path=str(path.resolve()), bytes=stat.st_size, mtime=int(stat.st_mtime))
    return ident


def artefact_key(cfg: Profile, fields: tuple, **extra) -> str:
    """The hash of ``fields`` of the profile, the data's identity, the training code's
    version, the mask code's version when ``fields`` include mask settings (a new mask
    algorithm relearns masks, not networks), and ``extra``."""
    settings = {f: getattr(cfg, f) for f in fields}
    settings.update(_data_identity(cfg), training_version=TRAINING_VERSION, **extra)
    if set(fields) - set(NETWORK_FIELDS):
        settings["masks_version"] = fm_masks.MASKS_VERSION
    return stable_hash(settings)


def _record(path: Path, cfg: Profile, **what) -> None:
    """A readable JSON beside each artefact: the configuration that made it."""
    save_json_atomic(path.with_suffix(".json"), dict(what, profile=cfg.as_dict()))


@functools.lru_cache(maxsize=4)
def _dataset_cached(data: str, size: int, seed: int, n_train, n_val) -> Dataset:
    return load_dataset(data, size=size, seed=seed, n_train=n_train, n_val=n_val)


def get_dataset(cfg: Profile) -> Dataset:
    return _dataset_cached(cfg.data, cfg.size, cfg.data_seed, cfg.n_train, cfg.n_val)


def get_network(cfg: Profile, regime: str, progress: bool = True) -> MaskedClassifier:
    """The network trained under ``regime`` (frozen, eval mode), trained once."""
    check_regime(regime)
    path = runs_dir(cfg) / "networks" / f"{regime}-{artefact_key(cfg, NETWORK_FIELDS, regime=regime)}.pt"
    device = default_device()
    if not path.exists():
        model = train_network(get_dataset(cfg), regime, cfg, progress=progress, device=device)
        save_model(model, path)
        _record(path, cfg, artefact="network", regime=regime,
                metrics={k: v for k, v in model.meta["metrics"].items() if k != "history"})
    return freeze(load_model(path, device=device))


def get_networks(cfg: Profile, regimes=None, progress: bool = True) -> dict[str, MaskedClassifier]:
    from .profiles import REGIMES

    return {r: get_network(cfg, r, progress=progress) for r in (regimes or REGIMES)}


def get_dataset_mask(cfg: Profile, regime: str = "vanilla", class_index: int | None = None,
                     progress: bool = True) -> dict:
    """The dataset mask of the ``regime`` network on the validation set (or on one
    class's validation images): ``mask`` (H, W) unshifted, ``accuracy_before``,
    ``accuracy_after``, ``kept`` and the per-epoch history."""
    scope = "all" if class_index is None else f"class{class_index}"
    key = artefact_key(cfg, DATASET_MASK_FIELDS, regime=regime, scope=scope)
    path = runs_dir(cfg) / "masks" / f"dataset-{regime}-{scope}-{key}.npz"
    if not path.exists():
        ds = get_dataset(cfg)
        x, y = ds.x_val, ds.y_val
        if class_index is not None:
            x, y = x[y == class_index], y[y == class_index]
        result = fm_masks.learn_dataset_mask(
            get_network(cfg, regime, progress), x, y, lam=cfg.dmask_lam, lr=cfg.dmask_lr,
            epochs=cfg.dmask_epochs, batch_size=cfg.dmask_batch_size,
            patience=cfg.dmask_patience, seed=cfg.seed, progress=progress)
        history = {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in result.history.items()}
        save_npz_atomic(path, mask=result.mask, accuracy_before=result.accuracy_before,
                        accuracy_after=result.accuracy_after, kept=result.kept,
                        epochs_run=result.epochs_run, **history)
        _record(path, cfg, artefact="dataset_mask", regime=regime, scope=scope,
                accuracy_before=result.accuracy_before, accuracy_after=result.accuracy_after)
    arrays = load_npz(path)
    out = {k: (v.item() if v.ndim == 0 else v) for k, v in arrays.items() if not k.startswith("history_")}
    out["history"] = {k[len("history_"):]: v for k, v in arrays.items() if k.startswith("history_")}
    return out


def get_class_masks(cfg: Profile, regime: str = "vanilla", progress: bool = True) -> np.ndarray:
    """(C, H, W): one dataset mask per class, learned on that class's validation images."""
    ds = get_dataset(cfg)
    return np.stack([get_dataset_mask(cfg, regime, c, progress)["mask"]
                     for c in range(ds.num_classes)])


def get_reversal_selection(cfg: Profile, progress: bool = True) -> dict:
    """The validation images of the paper's single-image experiments (see
    :func:`fm_core.masks.select_reversal_images`) and their PGD images."""
    key = artefact_key(cfg, NETWORK_FIELDS, artefact="selection")
    path = runs_dir(cfg) / "masks" / f"selection-{key}.npz"
    if not path.exists():
        ds = get_dataset(cfg)
        sel = fm_masks.select_reversal_images(
            get_network(cfg, "vanilla", progress), get_network(cfg, "adversarial", progress),
            ds.x_val, ds.y_val, cfg.eps_pixel, cfg.pgd_steps, seed=cfg.seed)
        indices = np.asarray(sel["indices"], dtype=np.int64)
        x_adv = torch.as_tensor(sel["x_adv"]).numpy().astype(np.float32)
        save_npz_atomic(path, indices=indices, x_adv=x_adv)
    arrays = load_npz(path)
    return {"indices": arrays["indices"], "x_adv": torch.from_numpy(arrays["x_adv"])}


def get_image_masks(cfg: Profile, which: str = "vanilla_x", progress: bool = True) -> dict:
    """Single-image masks for the selected images (at most ``cfg.imask_images``):
    ``which`` is ``vanilla_x`` (M_N,x), ``adversarial_x`` (M_A,x) or ``vanilla_xadv``
    (M_N,xA). Returns ``masks`` (N, H, W), ``indices`` (into the validation split),
    ``labels``, ``predictions``, ``final_predictions``, ``steps``. The run keeps a
    checkpoint: killed and restarted, it resumes where it stopped."""
    if which not in IMAGE_MASK_SETS:
        raise ValueError(f"which must be one of {list(IMAGE_MASK_SETS)}")
    regime, images = IMAGE_MASK_SETS[which]
    key = artefact_key(cfg, IMAGE_MASK_FIELDS, which=which)
    path = runs_dir(cfg) / "masks" / f"images-{which}-{key}.npz"
    if not path.exists():
        ds = get_dataset(cfg)
        sel = get_reversal_selection(cfg, progress)
        n = len(sel["indices"]) if cfg.imask_images is None else min(cfg.imask_images, len(sel["indices"]))
        indices = sel["indices"][:n]
        x = ds.x_val[indices] if images == "clean" else sel["x_adv"][:n]
        result = fm_masks.learn_image_masks(
            get_network(cfg, regime, progress), x, lam=cfg.imask_lam, lr=cfg.imask_lr,
            max_steps=cfg.imask_max_steps, patience=cfg.imask_patience,
            batch_size=cfg.imask_batch_size, schedule_steps=cfg.imask_schedule_steps,
            checkpoint=path.with_suffix(".partial.npz"), progress=progress)
        save_npz_atomic(path, indices=indices, labels=ds.y_val[indices].numpy(),
                        **{k: np.asarray(v) for k, v in result.items()})
        path.with_suffix(".partial.npz").unlink(missing_ok=True)
        _record(path, cfg, artefact="image_masks", which=which, n=int(n))
    return load_npz(path)


def save_result(cfg: Profile, name: str, values: dict) -> Path:
    """Store a table's computed numbers (read back by the reproduction page)."""
    path = runs_dir(cfg) / "results" / f"{name}.json"
    save_json_atomic(path, {"values": values, "made_by": _made_by(cfg)})
    return path


def _made_by(cfg: Profile) -> dict:
    """What a stored result depends on: the configuration and the code versions, as
    JSON reads them back."""
    return json.loads(json.dumps({"profile": cfg.as_dict(), "training_version": TRAINING_VERSION,
                                  "masks_version": fm_masks.MASKS_VERSION}, default=str))


def load_results(cfg: Profile) -> dict[str, dict]:
    """The stored results made by exactly this configuration and code (a run with, say,
    another ``data`` shares the folder; its results are not this one's)."""
    current = _made_by(cfg)
    results = {}
    for path in sorted((runs_dir(cfg) / "results").glob("*.json")):
        stored = json.loads(path.read_text())
        if stored.get("made_by") == current:
            results[path.stem] = stored["values"]
    return results


def profile_for(profile: str | Profile = "quick", **overrides) -> Profile:
    """The profile with a notebook's or CLI's overrides (``None`` keeps the default)."""
    return get_profile(profile, **overrides)

"""The recipes: what each artefact is made from. Notebooks, the CLI and tests ask here
(``get_network(cfg, "vanilla")``, ``get_dataset_mask(cfg, "adversarial")``, ...) and get
the artefact from :mod:`fm_core.store`, computed once.

Held-out scoring: the validation split is cut in two class-balanced halves
(:func:`val_halves`). Dataset and class masks are learned on the *fit* half; every number
that judges them (masked accuracy, cue shares, recovery) is computed on the *score*
half, and the single-image experiments use score-half images, so a class mask used as a
control there never saw them.

Size: every recipe in one module, so that a reader finds what any artefact is made from
(its settings, its code, its place in the store) in one file.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import torch

from fm_core.nets import attacks, evaluation, models, training
from fm_core import data, fourier, store
from fm_core.data import files as datafiles, dataset, synthetic
from fm_core.masks import dataset_mask_learner, image_mask_learner, shards
from fm_core.science import cue_analysis, experiments, reversal
from fm_core.data.dataset import Dataset
from fm_core.masks.result import MaskResult
from fm_core.nets.models import MaskedClassifier, freeze, load_model, save_model
from fm_core.paths import DATA_NAMES
from fm_core.profiles import PROFILES, Profile
from fm_core.nets.training import check_regime, train_network
from fm_core.utils import default_device, load_npz, save_json_atomic, save_npz_atomic, stable_hash

DATA_FIELDS = ("data", "size", "data_seed", "n_train", "n_val", "cue_h_ratio", "cue_rho_l", "cue_rho_h",
               "cue_train", "cue_h_carrier")
NETWORK_FIELDS = DATA_FIELDS + training.TRAINING_FIELDS
DATASET_MASK_FIELDS = NETWORK_FIELDS + ("dmask_lam", "dmask_lr", "dmask_batch_size", "dmask_max_steps",
                                        "dmask_epochs", "dmask_window", "dmask_tol", "dmask_patience",
                                        "dmask_schedule", "dmask_revert", "dmask_invariance", "dmask_part")
LAMBDA_PATH_FIELDS = DATASET_MASK_FIELDS + ("dmask_path_lams",)
IMAGE_MASK_FIELDS = NETWORK_FIELDS + ("imask_lam", "imask_lr", "imask_max_steps", "imask_patience",
                                      "imask_images", "imask_schedule_steps")

# The code each kind of artefact depends on: editing any of these files changes its key.
NETWORK_CODE = (training, models, attacks, evaluation, fourier, dataset, data, synthetic, datafiles)
SPLIT_CODE = NETWORK_CODE + (reversal,)  # val_halves and the reversal selection live here and there
# each artefact's code: these modules and all they import (fm_core.store.code_keys.code_closure)
DATASET_MASK_CODE = NETWORK_CODE + (dataset_mask_learner,)
IMAGE_MASK_CODE = SPLIT_CODE + (image_mask_learner, shards)  # shards: a multi-process run merges them

# The three single-image mask sets of the paper's code: (network, images).
IMAGE_MASK_SETS = {
    "vanilla_x": ("vanilla", "clean"),        # M_N,x
    "adversarial_x": ("adversarial", "clean"),  # M_A,x
    "vanilla_xadv": ("vanilla", "adversarial"),  # M_N,xA
}


def _settings(cfg: Profile, fields: tuple, **extra) -> dict:
    """The profile's ``fields``, the data's identity and ``extra``."""
    settings = {f: getattr(cfg, f) for f in fields}
    path = Path(str(cfg.data)).expanduser()
    if cfg.data not in DATA_NAMES and path.exists():  # a user's file: its identity
        stat = path.stat()
        settings.update(data_path=str(path.resolve()), data_bytes=stat.st_size, data_mtime=int(stat.st_mtime))
    settings.update(extra)
    return settings


def _record(cfg: Profile, **what) -> dict:
    return dict(what, profile=cfg.as_dict())


def _where(cfg: Profile, kind: str, name: str) -> Path:
    return store.runs_dir(cfg.name) / kind / name


# ------------------------------------------------------------------------------ data
def cue_world(cfg: Profile) -> synthetic.CueWorld:
    return synthetic.CueWorld(h_ratio=cfg.cue_h_ratio, rho_l=cfg.cue_rho_l, rho_h=cfg.cue_rho_h,
                              train_cues=cfg.cue_train, h_carrier=cfg.cue_h_carrier)


@functools.lru_cache(maxsize=8)
def _dataset_cached(name: str, size: int, seed: int, n_train, n_val, world) -> Dataset:
    return data.load_dataset(name, size=size, seed=seed, n_train=n_train, n_val=n_val, world=world)


def get_dataset(cfg: Profile) -> Dataset:
    return _dataset_cached(cfg.data, cfg.size, cfg.data_seed, cfg.n_train, cfg.n_val, cue_world(cfg))


@functools.lru_cache(maxsize=8)
def _probes_cached(size: int, seed: int, world) -> dict:
    return synthetic.load_probes(size, seed, dataclasses.replace(world, train_cues="both"))


def get_probes(cfg: Profile) -> dict:
    """The cue world's held-out probe sets (both cues, whatever ``cue_train`` says: the
    positive controls are probed on the same images as every other network)."""
    if cfg.data != "synthetic":
        raise ValueError(f"the data set {cfg.data!r} has no cue probes (use data='synthetic')")
    return _probes_cached(cfg.size, cfg.data_seed, cue_world(cfg))


def val_halves(cfg: Profile) -> tuple[np.ndarray, np.ndarray]:
    """(fit, score): two disjoint, class-balanced halves of the validation indices."""
    y = get_dataset(cfg).y_val.numpy()
    rng = np.random.default_rng(cfg.seed)
    fit, score = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fit.append(members[: len(members) // 2])
        score.append(members[len(members) // 2:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(score))


def fit_half(cfg: Profile) -> tuple[torch.Tensor, torch.Tensor]:
    ds, (idx, _) = get_dataset(cfg), val_halves(cfg)
    return ds.x_val[idx], ds.y_val[idx]


def score_half(cfg: Profile) -> tuple[torch.Tensor, torch.Tensor]:
    ds, (_, idx) = get_dataset(cfg), val_halves(cfg)
    return ds.x_val[idx], ds.y_val[idx]


# -------------------------------------------------------------------------- networks
def get_network(cfg: Profile, regime: str, progress: bool = True) -> MaskedClassifier:
    """The network trained under ``regime`` (frozen, eval mode), trained once.

    Parameters
    ----------
    cfg : Profile
        Its settings (data set, architecture, epochs, PGD, seed) are the artefact's key,
        with the code that trains it.
    regime : str
        ``"vanilla"``, ``"adversarial"``, ``"scale"``, ``"translate"`` or ``"rotate"``.

    Returns
    -------
    MaskedClassifier
        Loaded from the store, or trained and stored (resumable) when missing.
    """
    check_regime(regime)
    key = store.artefact_key(_settings(cfg, NETWORK_FIELDS, regime=regime), NETWORK_CODE)
    device = default_device()

    path = _where(cfg, "networks", f"{regime}-{key}.pt")

    def compute():  # resumable: killed part-way, the next call continues from the last epoch
        # PGD accuracy is measured where a table needs it (fm_core.science.experiments.table1)
        return train_network(get_dataset(cfg), regime, cfg, progress=progress, device=device,
                             checkpoint=store.partial_path(path), evaluate_pgd=False)

    def record(model):
        metrics = {k: v for k, v in model.meta["metrics"].items() if k != "history"}
        return _record(cfg, artefact="network", regime=regime, metrics=metrics)

    model = store.fetch(path, compute, save=save_model, load=lambda p: load_model(p, device=device),
                        record=record, stage="training")
    # channels_last: about a third faster mask steps on CPU (`fm bench`'s channels_last
    # case); the numbers differ from contiguous memory by float rounding only
    return freeze(model.to(memory_format=torch.channels_last))


def get_behaviour(cfg: Profile, regime: str, progress: bool = True) -> dict:
    """The ``regime`` network's behaviour on the cue world's probes
    (:func:`fm_core.science.cue_analysis.behaviour`: accuracy per probe set, L-bias),
    measured once: several pages and read-outs ask for it."""
    key = store.artefact_key(_settings(cfg, NETWORK_FIELDS, regime=regime, probes=synthetic.N_PROBE),
                             NETWORK_CODE + (cue_analysis,))

    def compute():
        return cue_analysis.behaviour(get_network(cfg, regime, progress), get_probes(cfg))

    return store.fetch(_where(cfg, "behaviour", f"{regime}-{key}.json"), compute,
                       save=lambda v, p: save_json_atomic(p, v),
                       load=lambda p: json.loads(Path(p).read_text(encoding="utf-8")), stage="probes",
                       record=lambda v: _record(cfg, artefact="behaviour", regime=regime))


# ----------------------------------------------------------------------------- masks
def get_dataset_mask(cfg: Profile, regime: str = "vanilla", class_index: int | None = None,
                     progress: bool = True, half: str = "fit", mask_seed: int | None = None) -> MaskResult:
    """The dataset mask of the ``regime`` network, learned on the fit half of the
    validation set (or on one class's fit-half images). ``half="score"`` learns it on
    the other half instead and ``mask_seed`` changes the learner's data order (both
    only to measure how stable masks are; every judged number uses the fit-half mask).

    Returns
    -------
    MaskResult
        From the store, or learned with :meth:`fm_core.masks.DatasetMask.from_profile`
        and stored; the key is the profile's mask settings, the network's and the code.
    """
    scope = "all" if class_index is None else f"class{class_index}"
    variant = {} if half == "fit" and mask_seed is None else dict(half=half, mask_seed=mask_seed)
    key = store.artefact_key(_settings(cfg, DATASET_MASK_FIELDS, regime=regime, scope=scope, **variant),
                             DATASET_MASK_CODE)

    def compute():
        x, y = fit_half(cfg) if half == "fit" else score_half(cfg)
        if class_index is not None:
            x, y = x[y == class_index], y[y == class_index]
        learner = dataset_mask_learner.DatasetMask.from_profile(cfg, **({} if mask_seed is None else {"seed": mask_seed}))
        return learner(get_network(cfg, regime, progress), x, y, progress=progress)

    suffix = "" if not variant else f"-{half}-seed{cfg.seed if mask_seed is None else mask_seed}"
    return store.fetch(_where(cfg, "masks", f"dataset-{regime}-{scope}{suffix}-{key}.npz"), compute,
                       save=MaskResult.save, load=MaskResult.load,
                       stage="dataset masks" if class_index is None else "class masks",
                       record=lambda r: _record(cfg, artefact="dataset_mask", regime=regime, scope=scope,
                                                 accuracy_before=r.accuracy_before,
                                                 accuracy_after=r.accuracy_after, steps=int(r.steps[0]),
                                                 converged=bool(r.converged[0])))


def get_lambda_path(cfg: Profile, regime: str = "vanilla", progress: bool = True) -> MaskResult:
    """Converged dataset masks of the ``regime`` network at every lambda of
    ``cfg.dmask_path_lams`` (one row each), learned in one batched run on the fit half."""
    # every row starts at the profile's dataset mask when the path lies above its lambda:
    # larger lambdas only take bins away from it, so the path settles in fewer steps
    warm = min(cfg.dmask_path_lams) >= cfg.dmask_lam
    key = store.artefact_key(_settings(cfg, LAMBDA_PATH_FIELDS, regime=regime, warm_start=warm), DATASET_MASK_CODE)

    def compute():
        x, y = fit_half(cfg)
        start = get_dataset_mask(cfg, regime, progress=progress).mask if warm else None
        return dataset_mask_learner.LambdaPath.from_profile(cfg)(get_network(cfg, regime, progress), x, y, start=start,
                                                  progress=progress)

    return store.fetch(_where(cfg, "masks", f"lambda-path-{regime}-{key}.npz"), compute, save=MaskResult.save,
                       load=MaskResult.load, stage="lambda paths",
                       record=lambda r: _record(cfg, artefact="lambda_path", regime=regime,
                                                steps=r.steps.tolist(), converged=r.converged.tolist()))


LR_SWEEP = (0.005, 0.01, 0.02, 0.05, 0.1)


def get_lr_sweep(cfg: Profile, regime: str = "vanilla", lrs=LR_SWEEP, progress: bool = True) -> MaskResult:
    """The profile's dataset mask learned at each learning rate of ``lrs`` (one row
    each, one batched run): how many steps each rate needs to converge. The budget is
    the profile's under a one-cycle schedule (the schedule is defined by its length) and
    four times it under a constant rate (to see how far past the budget a rate needs)."""
    key = store.artefact_key(_settings(cfg, DATASET_MASK_FIELDS, regime=regime, lrs=list(lrs)), DATASET_MASK_CODE)

    def compute():
        x, y = fit_half(cfg)
        budget = cfg.dmask_max_steps if cfg.dmask_max_steps is None or cfg.dmask_schedule == "one_cycle" \
            else 4 * cfg.dmask_max_steps
        learner = dataset_mask_learner.LambdaPath.from_profile(cfg, lams=(cfg.dmask_lam,), lr=np.asarray(lrs), max_steps=budget)
        return learner(get_network(cfg, regime, progress), x, y, progress=progress)

    return store.fetch(_where(cfg, "masks", f"lr-sweep-{regime}-{key}.npz"), compute, save=MaskResult.save,
                       load=MaskResult.load, stage="dataset masks",
                       record=lambda r: _record(cfg, artefact="lr_sweep", regime=regime, steps=r.steps.tolist()))


def get_class_masks(cfg: Profile, regime: str = "vanilla", progress: bool = True) -> np.ndarray:
    """(C, H, W): one dataset mask per class, learned on that class's fit-half images."""
    return np.stack([get_dataset_mask(cfg, regime, c, progress).mask
                     for c in range(get_dataset(cfg).num_classes)])


def _attack_strength(cfg: Profile) -> dict:
    """The reversal attack's eps factor, in a key only when it is not the paper's 1 (so the
    keys of the paper's runs stay what they were)."""
    return {} if cfg.reversal_eps_factor == 1.0 else {"reversal_eps_factor": cfg.reversal_eps_factor}


def get_reversal_selection(cfg: Profile, progress: bool = True) -> dict:
    """The score-half validation images of the paper's single-image experiments (see
    :func:`fm_core.science.reversal.select_reversal_images`): ``indices`` into the validation
    split, and their PGD images ``x_adv`` (at ``eps_pixel`` x ``reversal_eps_factor``)."""
    key = store.artefact_key(_settings(cfg, NETWORK_FIELDS, artefact="selection", **_attack_strength(cfg)), SPLIT_CODE)

    def compute():
        ds, (_, score) = get_dataset(cfg), val_halves(cfg)
        sel = reversal.select_reversal_images(
            get_network(cfg, "vanilla", progress), get_network(cfg, "adversarial", progress),
            ds.x_val[score], ds.y_val[score], cfg.eps_pixel * cfg.reversal_eps_factor, cfg.pgd_steps, seed=cfg.seed)
        return {"indices": score[sel["indices"]].astype(np.int64),
                "x_adv": sel["x_adv"].numpy().astype(np.float32)}

    arrays = store.fetch(_where(cfg, "masks", f"selection-{key}.npz"), compute,
                         save=lambda a, p: save_npz_atomic(p, **a), load=load_npz, stage="reversal selection (PGD)")
    return {"indices": arrays["indices"], "x_adv": torch.from_numpy(arrays["x_adv"])}


def get_image_masks(cfg: Profile, which: str = "vanilla_x", progress: bool = True) -> MaskResult:
    """Single-image masks for the selected images (at most ``cfg.imask_images``):
    ``which`` is ``vanilla_x`` (M_N,x), ``adversarial_x`` (M_A,x) or ``vanilla_xadv``
    (M_N,xA). ``extra`` holds ``indices`` (into the validation split) and ``labels``.
    The run keeps a checkpoint: killed and restarted, it resumes where it stopped.
    Under torchrun or srun each rank learns its shard of the images (with its own
    checkpoint) and one rank merges them into the artefact (see :mod:`fm_core.masks.shards`).

    Returns
    -------
    MaskResult
        ``masks`` (N, H, W), one per selected image, learned with
        :meth:`fm_core.masks.ImageMasks.from_profile`.
    """
    from fm_core.nets import distributed  # only this recipe runs sharded

    if which not in IMAGE_MASK_SETS:
        raise ValueError(f"which must be one of {list(IMAGE_MASK_SETS)}")
    regime, images = IMAGE_MASK_SETS[which]
    key = store.artefact_key(_settings(cfg, IMAGE_MASK_FIELDS, which=which, **_attack_strength(cfg)), IMAGE_MASK_CODE)
    path = _where(cfg, "masks", f"images-{which}-{key}.npz")
    ranks = distributed.init_distributed()
    progress = progress and ranks.is_main

    def selected():
        """The validation indices of the run's images, and the images."""
        ds, sel = get_dataset(cfg), get_reversal_selection(cfg, progress)
        n = len(sel["indices"]) if cfg.imask_images is None else min(cfg.imask_images, len(sel["indices"]))
        indices = sel["indices"][:n]
        return indices, (ds.x_val[indices] if images == "clean" else sel["x_adv"][:n])

    def learn(positions=None, checkpoint=store.partial_path(path)):  # fetch deletes this checkpoint
        indices, x = selected()
        if positions is not None:
            indices, x = indices[positions], x[positions]
        network = get_network(cfg, regime, progress).to(distributed.rank_device(ranks))
        result = image_mask_learner.ImageMasks.from_profile(cfg)(network, x, checkpoint=checkpoint, progress=progress)
        result.extra.update(indices=indices, labels=get_dataset(cfg).y_val[indices].numpy())
        return result

    compute = learn
    if ranks.distributed:
        shard_files = [shards.shard_path(path, r, ranks.world_size) for r in range(ranks.world_size)]
        if not store.record_path(path).exists():
            shards.learn_shard(learn, len(selected()[0]), path, ranks)
            distributed.barrier()  # every shard saved
        if all(shard.exists() for shard in shard_files):
            compute = functools.partial(shards.merge_shards, shard_files)  # whoever holds the lock merges
    result = store.fetch(path, compute, save=MaskResult.save, load=MaskResult.load, stage="single-image masks",
                         record=lambda r: _record(cfg, artefact="image_masks", which=which, n=len(r.masks)))
    if ranks.distributed:  # the artefact exists now: this rank's shard is no longer needed
        shards.remove_shards(shard_files[ranks.rank:ranks.rank + 1])
    return result


def step_budgets(cfg: Profile) -> list[int]:
    """The step budgets of :func:`get_step_budget_curve`: a quarter, half, one and two
    times the profile's ``imask_max_steps``."""
    return sorted({max(1, cfg.imask_max_steps // 4), max(1, cfg.imask_max_steps // 2),
                   cfg.imask_max_steps, 2 * cfg.imask_max_steps})


def get_step_budget_curve(cfg: Profile, n_images: int = 16, progress: bool = True) -> dict:
    """:func:`fm_core.science.experiments.step_budget_curve` for the vanilla network on the first
    ``n_images`` images of the single-image selection (computed once)."""
    key = store.artefact_key(_settings(cfg, IMAGE_MASK_FIELDS, n_images=n_images, budgets=step_budgets(cfg)),
                             IMAGE_MASK_CODE + (experiments,))

    def compute():
        indices = get_reversal_selection(cfg, progress)["indices"][:n_images]
        return experiments.step_budget_curve(get_network(cfg, "vanilla", progress), get_dataset(cfg).x_val[indices],
                                             image_mask_learner.ImageMasks.from_profile(cfg), step_budgets(cfg))

    return store.fetch(_where(cfg, "masks", f"step-budgets-{key}.json"), compute, save=lambda v, p: save_json_atomic(p, v),
                       load=lambda p: json.loads(Path(p).read_text(encoding="utf-8")), stage="single-image masks")


# --------------------------------------------------------------------------- results
def made_by(cfg: Profile) -> dict:
    """What a stored result depends on: the configuration and the whole package's code."""
    return {"profile": cfg.as_dict(), "code": store.package_code_hash()}


def results_data(cfg: Profile) -> str | None:
    """The folder name of ``cfg``'s results when its data set is not its profile's own
    (:func:`fm_core.store.results_dir`): the data set's name, or a user's file's name and a
    hash of its path; None for the profile's own data."""
    own = PROFILES[cfg.name].data if cfg.name in PROFILES else None
    if cfg.data == own:
        return None
    if cfg.data in DATA_NAMES:
        return cfg.data
    path = Path(str(cfg.data)).expanduser()
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in path.stem)[:40] or "data"
    return f"{stem}-{stable_hash(str(path.resolve()))[:10]}"


def save_result(cfg: Profile, name: str, values: dict) -> Path:
    return store.save_result(cfg.name, name, values, made_by(cfg), data=results_data(cfg))


def load_results(cfg: Profile) -> dict[str, dict]:
    return store.load_results(cfg.name, made_by(cfg), data=results_data(cfg))

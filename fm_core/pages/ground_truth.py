"""Page 08, ground truth: how well each dataset and class mask ranks the cue world's
planted frequencies, and which cue each network reads (its accuracy with each cue's bins
removed).
"""
from __future__ import annotations

from fm_core.profiles import Profile
from fm_core.science import experiments
from fm_core.store import pipeline
from fm_core.store.pipeline import get_class_masks, get_dataset
from .common import dataset_masks, networks, saved


def ground_truth(cfg: Profile, progress: bool = True) -> dict:
    ds = _planted(cfg)
    masks = {r: m.mask for r, m in dataset_masks(cfg, progress=progress).items()}
    return saved(cfg, "ground_truth", experiments.ground_truth_recovery(
        masks, get_class_masks(cfg, "vanilla", progress), ds.ground_truth, ds.class_names))


def cue_reliance(cfg: Profile, progress: bool = True) -> dict:
    ds = _planted(cfg)
    x, y = pipeline.score_half(cfg)
    return saved(cfg, "cue_reliance", experiments.cue_reliance(networks(cfg, progress=progress), x, y,
                                                               ds.truth))


def _planted(cfg: Profile):
    ds = get_dataset(cfg)
    if ds.truth is None:
        raise ValueError(f"the data set {cfg.data!r} has no planted frequencies (use data='synthetic')")
    return ds

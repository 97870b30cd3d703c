"""Page 08, ground truth: how well each dataset and class mask ranks the cue world's
planted frequencies, and which cue each network reads (its accuracy with each cue's bins
removed).
"""
from __future__ import annotations

from dataclasses import dataclass

from fm_core.profiles import Profile
from fm_core.science import experiments
from fm_core.store import pipeline
from fm_core.store.pipeline import get_class_masks, get_dataset
from .common import dataset_masks, networks, saved

# A mask *ranks the planted frequencies well* at this AUROC or more (the book's line for page 08)
RANKS_WELL = 0.9
# The AUROC of a ranking by chance: a mask below it keeps other bins more than its planted ones
CHANCE_AUROC = 0.5
# A network *reads* a cue when removing that cue's bins costs at least this fraction of the way
# from its accuracy down to chance
READ_FRACTION = 0.5


def cue_read(reliance: dict, chance: float) -> str:
    """Which cue a network reads, from its accuracy with each cue's bins removed
    (:func:`cue_reliance`): "L", "H", "both" or "neither"."""
    full = reliance["all frequencies"]
    drop = {cue: full - reliance[f"{cue} bins removed"] for cue in ("L", "H")}
    read = [cue for cue, d in drop.items() if d >= READ_FRACTION * (full - chance)]
    return {0: "neither", 2: "both"}.get(len(read), read[0] if read else "neither")


@dataclass(frozen=True)
class GroundTruthVerdict:
    """Page 08's answer, from its two tables (:func:`ground_truth`, :func:`cue_reliance`)."""
    ranks_well: tuple[str, ...]    # masks whose AUROC is RANKS_WELL or more
    below_chance: tuple[str, ...]  # masks whose AUROC is under CHANCE_AUROC
    reads: dict[str, str]          # network -> the cue it reads (cue_read)


def judge_ground_truth(scores: dict, reliance: dict, chance: float) -> GroundTruthVerdict:
    return GroundTruthVerdict(ranks_well=tuple(n for n, s in scores.items() if s["auroc"] >= RANKS_WELL),
                              below_chance=tuple(n for n, s in scores.items() if s["auroc"] < CHANCE_AUROC),
                              reads={regime: cue_read(r, chance) for regime, r in reliance.items()})


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

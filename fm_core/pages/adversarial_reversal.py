"""Page 06, adversarial reversal (Table 2, Figure 7): whether an image's own mask brings
back the clean prediction of its attacked version, how much of that the mask layer builds
in (the share of the attack's energy the masks let through), the same table in the
robust-H world where it is not built in, and where in the spectrum the masks of attacked
images and of the adversarial network differ.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fm_core.data.synthetic import ROBUST_H_RATIO
from fm_core.profiles import Profile
from fm_core.science import experiments
from fm_core.science.mask_classifier import wilson_interval
from fm_core.science.reversal import attack_success, weakest_sufficient_attack
from fm_core.store import pipeline
from fm_core.store.pipeline import get_class_masks, get_dataset, get_image_masks, get_network
from .common import VERDICT_KEY, saved
from .cue_conditions import reads


def _reversal_inputs(cfg: Profile, progress: bool):
    ds = get_dataset(cfg)
    result = get_image_masks(cfg, "vanilla_x", progress)
    indices, labels = result.extra["indices"], result.extra["labels"]
    x_adv = pipeline.get_reversal_selection(cfg, progress)["x_adv"][:len(indices)]
    return ds, ds.x_val[indices], x_adv, result.masks, labels


def table2(cfg: Profile, progress: bool = True) -> dict:
    _, x, x_adv, masks, labels = _reversal_inputs(cfg, progress)
    values = experiments.table2(get_network(cfg, "vanilla", progress), x, x_adv, masks, labels,
                                get_class_masks(cfg, "vanilla", progress), seed=cfg.seed)
    return saved(cfg, "table2", values)


def attack_energy_kept(cfg: Profile, progress: bool = True) -> dict:
    """Table 2's images: the share of each attack's energy that the image's own mask lets
    through (:func:`fm_core.science.experiments.attack_energy_kept`), as mean, median and
    range; stored with its verdict (:func:`judge_construction`)."""
    _, x, x_adv, masks, _ = _reversal_inputs(cfg, progress)
    stats = _energy_stats(experiments.attack_energy_kept(x, x_adv, masks))
    return saved(cfg, "attack_energy_kept", {**stats, VERDICT_KEY: asdict(judge_construction(stats))})


# The attack *passes the masks* when the images' own masks let through at least this share of
# its energy on average; below it, M(x_A) = M(x) + M(delta) is close to M(x) by the mask
# layer's linearity, and Table 2's reversal close to certain by construction (the book's line)
ATTACK_PASSES = 0.1
# The masks *mostly remove* an attack that they let less than half of its energy through
MOSTLY_REMOVED_BELOW = 0.5


@dataclass(frozen=True)
class ConstructionVerdict:
    """How much of Table 2's reversal the mask layer builds in."""
    attack_passes_masks: bool  # the masks let ATTACK_PASSES or more of the attack's energy through


def judge_construction(kept: dict) -> ConstructionVerdict:
    return ConstructionVerdict(attack_passes_masks=kept["mean"] >= ATTACK_PASSES)


@dataclass(frozen=True)
class RobustWorldVerdict:
    """Table 2 in the robust-H world (:func:`robust_h_reversal`), from the 95% intervals of
    the image masks' and the random masks' restored shares."""
    tested: bool                  # some attack tried flips half of the right answers
    reads: str                    # the cue the vanilla network there follows (L-bias)
    own_mask_restores_more: bool  # the image masks' interval lies above the random masks'
    own_mask_restores_less: bool  # ... below it
    attack_mostly_removed: bool   # the masks let less than MOSTLY_REMOVED_BELOW of its energy through


def judge_robust_world(robust: dict) -> RobustWorldVerdict:
    if robust["factor"] is None:
        return RobustWorldVerdict(tested=False, reads=reads(robust["L-bias"]), own_mask_restores_more=False,
                                  own_mask_restores_less=False, attack_mostly_removed=False)
    (lo, hi), (rlo, rhi) = robust["intervals"]["M(x_A)"], robust["intervals"]["random mask, same size (x_A)"]
    return RobustWorldVerdict(tested=True, reads=reads(robust["L-bias"]), own_mask_restores_more=lo > rhi,
                              own_mask_restores_less=hi < rlo,
                              attack_mostly_removed=robust["energy kept"]["mean"] < MOSTLY_REMOVED_BELOW)


def percent_interval(percent: float, n: int) -> tuple[float, float]:
    """The 95% Wilson interval (%) of ``percent`` of ``n`` images."""
    low, high = wilson_interval(round(percent * n / 100), n)
    return 100 * low, 100 * high


def restores_apart(own: float, control: float, n: int) -> bool:
    """Table 2: does the image's own mask restore more than a control (both % of ``n``
    images)? Only when their 95% Wilson intervals do not overlap."""
    return percent_interval(control, n)[1] < percent_interval(own, n)[0]


def _energy_stats(kept: np.ndarray) -> dict:
    return {"n": int(len(kept)), "mean": float(kept.mean()), "median": float(np.median(kept)),
            "min": float(kept.min()), "max": float(kept.max())}


# Table 2 where it is not built in (robust_h_reversal): the attack strengths tried, weakest
# first, and the least success that makes one enough (at least half the right answers flipped)
ATTACK_FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0)


ATTACK_SUCCESS = 0.5


ATTACK_IMAGES = 256


def robust_h_reversal(cfg: Profile, progress: bool = True) -> dict | None:
    """Table 2 in the robust-H world (the cue question's control, H far above eps), where
    the vanilla network reads H and PGD at eps cannot erase it, so a mask's reversal is
    not given by construction. The attack is strengthened to the weakest multiple of
    eps in :data:`ATTACK_FACTORS` that makes at least :data:`ATTACK_SUCCESS` of the
    network's right answers on :data:`ATTACK_IMAGES` score-half images wrong (chosen
    without any mask). Returns ``success`` (factor -> share), ``factor`` (None: no attack
    was enough, and then only the next two), the vanilla network's ``L-bias`` there,
    ``energy by cue`` (where this attack and the main world's put their energy),
    ``table2`` (without the class-mask row), ``eps_pixel``, ``intervals`` (95% Wilson, of
    the M(x_A) and random-mask rows) and ``energy kept`` by the images' masks, and the
    ``verdict`` (:func:`judge_robust_world`). None off the cue world."""
    if get_dataset(cfg).truth is None:
        return None
    world = cfg.replace(cue_h_ratio=ROBUST_H_RATIO)
    x, y = pipeline.score_half(world)
    x, y = x[:ATTACK_IMAGES], y[:ATTACK_IMAGES]
    vanilla = get_network(world, "vanilla", progress)
    success = {}
    for factor in ATTACK_FACTORS:  # weakest first: stop at the first that is enough
        success[factor] = attack_success(vanilla, x, y, cfg.eps_pixel * factor, cfg.pgd_steps, cfg.seed)
        if success[factor] >= ATTACK_SUCCESS:
            break
    factor = weakest_sufficient_attack(success, ATTACK_SUCCESS)
    main_ds, main_x, main_adv, _, _ = _reversal_inputs(cfg, progress)
    out = {"success": {f"{k:g} x eps": v for k, v in success.items()}, "factor": factor,
           "L-bias": pipeline.get_behaviour(world, "vanilla", progress)["L-bias"],
           "energy by cue": {"main world, eps": experiments.attack_energy_by_cue(main_x, main_adv, main_ds.truth)}}
    if factor is not None:
        variant = world.replace(reversal_eps_factor=factor)
        ds, xs, x_adv, masks, labels = _reversal_inputs(variant, progress)
        values = experiments.table2(vanilla, xs, x_adv, masks, labels, None, seed=cfg.seed)
        n = values["n"]
        out.update(table2=values, eps_pixel=cfg.eps_pixel * factor,
                   intervals={row: [100 * b for b in wilson_interval(round(values[row] * n / 100), n)]
                              for row in ("M(x_A)", "random mask, same size (x_A)")},
                   **{"energy kept": _energy_stats(experiments.attack_energy_kept(xs, x_adv, masks))})
        out["energy by cue"][f"robust-H world, {factor:g} x eps"] = experiments.attack_energy_by_cue(
            xs, x_adv, ds.truth)
    out[VERDICT_KEY] = asdict(judge_robust_world(out))
    return saved(cfg, "robust_h_reversal", out)


def figure7(cfg: Profile, n_bands: int | None = None, metric: str = "mean", progress: bool = True) -> dict:
    reference = get_image_masks(cfg, "vanilla_x", progress).masks
    others = {"M_A,x > M_N,x": get_image_masks(cfg, "adversarial_x", progress).masks,
              "M_N,xA > M_N,x": get_image_masks(cfg, "vanilla_xadv", progress).masks}
    out = experiments.band_preference(reference, others, n_bands or cfg.bands, metric=metric,
                                      truth=get_dataset(cfg).truth)
    pipeline.save_result(cfg, f"figure7_{metric}", {
        k: {s: v[s] for s in ("low_bands_more_pct", "high_bands_more_pct", "equal_pct")}
        for k, v in out["comparisons"].items()})
    return out

"""Page 04, dataset masks: how they are learned, chosen without the answer, then held
against the truth, and Figure 4 (where in the spectrum each network's mask differs).

The objective (which invariance term), the learning rate and the schedule are chosen here
by criteria that never look at the cue world's truth or at behaviour: does the mask
converge, is it the same mask for another data order (mask seed) and for the other half
of the images, and does it keep the loss and accuracy of images it was not learned on
(the score half)? Only after the choice do pages hold the masks against the truth
(:func:`objectives_against_truth`, and page 10). Each function fetches from
:mod:`fm_core.store.pipeline`.

Size: one page's three truth-free choices (objective, learning rate, schedule), each with
its rule, its words and its test of the choice against the truth, kept together so that a
reader sees a rule beside the sentence that reports it.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from fm_core.fourier import symmetric_part
from fm_core.masks.dataset_masks import COMPARED_INVARIANCES, SCHEDULES
from fm_core.nets.evaluation import loss_and_accuracy
from fm_core.profiles import Profile
from fm_core.science import cue_analysis, experiments
from fm_core.store import pipeline
from fm_core.store.pipeline import get_dataset
from .common import ACCURACY_SLACK, VERDICT_KEY, budget_of, dataset_masks, held_out_points, judge_mask, settle_words
from .cue_conditions import paper_networks  # page 10's conditions of the paper's five networks
from .setting_rules import (TIE_BREAK_OBJECTIVE, TIE_BREAK_SCHEDULE, ScheduleChoice, _words,  # noqa: F401 (page 04's
                            choice_prose, choose_lr, choose_objective, choose_schedule, judge_schedule,  # names)
                            lr_sweep_prose, schedule_prose, settled_at_the_end, stability_margin,
                            stability_score)


MAIN_PAIR = ("vanilla", "adversarial")


# ACCURACY_SLACK (imported above from .common, where every page's mask status reads it): a
# mask may cost at most that much held-out accuracy (points) and still count as keeping the
# network's performance.


MASK_SEEDS = 3


def mask_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two masks' symmetric parts (the filters that act on a real
    image); NaN when a mask is constant."""
    a, b = symmetric_part(np.asarray(a, float)).ravel(), symmetric_part(np.asarray(b, float)).ravel()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def objective_row(cfg: Profile, regime: str, progress: bool = True) -> dict:
    """Truth-free numbers of the dataset mask that ``cfg`` learns for one network:
    convergence, stability across ``MASK_SEEDS`` data orders and across the two
    validation halves, and held-out (score-half) loss and accuracy change."""
    seeds = [cfg.seed + k for k in range(MASK_SEEDS)]
    runs = [pipeline.get_dataset_mask(cfg, regime, progress=progress, mask_seed=None if k == 0 else s)
            for k, s in enumerate(seeds)]
    other_half = pipeline.get_dataset_mask(cfg, regime, progress=progress, half="score")
    net = pipeline.get_network(cfg, regime, progress)
    x, y = pipeline.score_half(cfg)
    loss0, acc0 = loss_and_accuracy(net, x, y)
    loss1, acc1 = loss_and_accuracy(net, x, y, runs[0].mask)
    seed_corr = [mask_correlation(a.mask, b.mask) for a, b in itertools.combinations(runs, 2)]
    early = [not judge_mask(bool(r.converged[0]), int(r.steps[0]), budget_of(r), None).at_budget  # as every table
             for r in runs + [other_half]]
    return {"converged": f"{sum(early)}/{len(runs) + 1}",
            "all converged": all(early),
            "median steps": int(np.median([int(r.steps[0]) for r in runs + [other_half]])),
            "most steps": max(int(r.steps[0]) for r in runs + [other_half]),
            "budget": budget_of(runs[0]),
            "mask mean": round(float(runs[0].mask.mean()), 4),
            "seed correlation (min)": round(float(np.nanmin(seed_corr)), 3),
            "halves correlation": round(mask_correlation(runs[0].mask, other_half.mask), 3),
            "held-out loss change": round(loss1 - loss0, 4),
            "held-out accuracy change, points": round(100 * (acc1 - acc0), 2)}


def compare_objectives(cfg: Profile, regimes=MAIN_PAIR, objectives=COMPARED_INVARIANCES, progress: bool = True) -> dict:
    """``{objective: {regime: objective_row}}`` with every other setting the profile's."""
    out = {}
    for objective in objectives:
        variant = cfg.replace(dmask_invariance=objective)
        out[objective] = {r: objective_row(variant, r, progress) for r in regimes}
    pipeline.save_result(cfg, "objectives", {f"{o}.{r}.{k}": v for o, rows in out.items() for r, row in rows.items()
                                             for k, v in row.items() if not isinstance(v, str)})
    return out


def lr_sweep(cfg: Profile, regimes=MAIN_PAIR, progress: bool = True) -> dict:
    """Steps to converge against the learning rate, per network: ``{regime: {"lr": [...],
    "steps": [...], "converged": [...], "mask mean": [...]}}``."""
    out = {}
    for regime in regimes:
        r = pipeline.get_lr_sweep(cfg, regime, progress=progress)
        out[regime] = {"lr": [float(v) for v in r.extra["lrs"]], "steps": r.steps.tolist(),
                       "converged": r.converged.tolist(), "budget": int(r.settings["max_steps"]),
                       "schedule": r.settings["schedule"],
                       "mask mean": [round(float(m.mean()), 4) for m in r.masks]}
    return out


def compare_schedules(cfg: Profile, conditions=None, schedules=SCHEDULES, progress: bool = True) -> dict:
    """``{schedule: {condition: row}}``: the dataset mask of each of the paper's five
    networks (``conditions`` as :func:`fm_core.pages.cue_conditions.conditions` gives them; all
    eleven of page 10 took 70 more seconds of the build for the same choice) learned under
    each learning-rate schedule, every other setting the profile's.
    A row: whether the mask's rule fired (``converged``), its steps and step budget, and the
    held-out (score-half) accuracy change through it. No cue truth and no behaviour enter.
    :func:`schedule_rows` gives the rows as the page's table shows them."""
    conditions = paper_networks(cfg) if conditions is None else conditions
    out = {schedule: {} for schedule in schedules}
    for name, variant, regime in conditions:  # the network and its unmasked accuracy once per condition
        x, y = pipeline.score_half(variant)
        net = pipeline.get_network(variant, regime, progress)
        unmasked = loss_and_accuracy(net, x, y)[1]
        for schedule in schedules:
            mask = pipeline.get_dataset_mask(variant.replace(dmask_schedule=schedule), regime, progress=progress)
            change = loss_and_accuracy(net, x, y, mask.mask)[1] - unmasked
            out[schedule][name] = {"converged": bool(mask.converged[0]), "steps": int(mask.steps[0]),
                                   "budget": budget_of(mask),
                                   "held-out accuracy change, points": round(100 * change, 2)}
    pipeline.save_result(cfg, "schedules", {**{f"{s}.{r}.{k}": v for s, rows in out.items() for r, row in rows.items()
                                               for k, v in row.items()},
                                            VERDICT_KEY: asdict(judge_schedule(out, cfg.dmask_window or 0))})
    return out


def settings_prose(cfg: Profile) -> str:
    """How this profile learns dataset masks, in words (generated from the profile)."""
    budget = (f"at most {cfg.dmask_max_steps:,} optimiser steps" if cfg.dmask_max_steps is not None
              else f"at most {cfg.dmask_epochs} passes over the images")
    window = f"Every {cfg.dmask_window} steps" if cfg.dmask_window is not None else "After every pass over the images"
    held = {"batch_mean": "the mean loss of each batch",
            "dataset_mean": "the data set's mean loss (each batch's squared mean change less its variance over "
                            "the batch size: an unbiased estimate, whatever the batch size)",
            "per_image": "each image's loss (the paper's Eq. 2)",
            "kl": "each image's output distribution (KL divergence from the unmasked one)"}[cfg.dmask_invariance]
    schedule = ("a one-cycle schedule over the budget (the paper's)" if cfg.dmask_schedule == "one_cycle"
                else "a linear warm-up over the first window, then a constant rate")
    text = (f"This page's profile (`{cfg.name}`) learns each dataset mask on the fit half of the validation set "
            f"with lambda {cfg.dmask_lam:g}, holding {held}, in batches of {cfg.dmask_batch_size} with Adam at "
            f"lr {cfg.dmask_lr:g} under {schedule}, for {budget}. {window} the mask is averaged over the "
            f"window; once {cfg.dmask_patience} windows in a row move that average by at most {cfg.dmask_tol:g} "
            f"per bin (mean absolute change), the mask has **converged** and learning stops.")
    if cfg.dmask_revert:
        text += (" As in the paper, the result falls back to the last mask whose masked accuracy stayed within "
                 "99% of the unmasked accuracy.")
    return text


def objectives_against_truth(cfg: Profile, regimes=("vanilla", "adversarial"),
                             objectives=COMPARED_INVARIANCES, progress: bool = True) -> dict:
    """Each objective's dataset mask (the fit-half one) against the cue world's truth, for
    the main networks: ``{objective: {regime: row}}`` with the L-bias, the mask's cue
    shares (mean on the L bins, the H bins and elsewhere, AUROCs, L-share), mask mean,
    convergence, steps and budget (:func:`truth_rows` for the table). Shown only after the
    choice above (:func:`choose_objective`) was made without it."""
    out = {}
    ds = pipeline.get_dataset(cfg)
    bias = {r: pipeline.get_behaviour(cfg, r, progress)["L-bias"] for r in regimes}
    for objective in objectives:
        variant = cfg.replace(dmask_invariance=objective)
        out[objective] = {}
        for regime in regimes:
            mask = pipeline.get_dataset_mask(variant, regime, progress=progress)
            out[objective][regime] = {"L-bias": bias[regime],
                                      **cue_analysis.mask_cue_shares(mask.mask, ds.truth["low"], ds.truth["high"]),
                                      "mask mean": round(float(mask.mask.mean()), 4),
                                      "converged": bool(mask.converged[0]), "steps": int(mask.steps[0]),
                                      "budget": budget_of(mask)}
    return out


# The per-image objective's mask measures *sensitivity* rather than use when it keeps more
# than this many times the mean-loss mask's share of the cue-free bins (and a larger
# L-share): "clearly more", the book's line for page 04, not measured
DENSER_FACTOR = 2


@dataclass(frozen=True)
class SensitivityVerdict:
    """Does the per-image objective find what the vanilla network's loss is sensitive to,
    where the mean-loss objective finds what it uses? From :func:`objectives_against_truth`."""
    mean_objective: str | None  # the mean-loss objective compared ("dataset_mean" or "batch_mean"; None: none)
    per_image_measures_sensitivity: bool | None  # None: the two objectives were not both learned


def judge_uses_or_sensitivity(truth: dict) -> SensitivityVerdict:
    mean_key = next((k for k in ("dataset_mean", "batch_mean") if k in truth), None)
    if mean_key is None or "per_image" not in truth:
        return SensitivityVerdict(mean_objective=mean_key, per_image_measures_sensitivity=None)
    b, p = truth[mean_key]["vanilla"], truth["per_image"]["vanilla"]
    return SensitivityVerdict(mean_objective=mean_key, per_image_measures_sensitivity=(
        p["mean elsewhere"] > DENSER_FACTOR * b["mean elsewhere"] and p["L-share"] > b["L-share"]))


def uses_or_sensitivity_prose(truth: dict) -> str:
    """Does an objective find the frequencies a network *uses*, or those its per-image
    loss is *sensitive* to? Read from the vanilla network's masks: bins that carry no
    cue ("elsewhere") are used by no network's decisions, so a mask that keeps them
    measures sensitivity."""
    lines = []
    for objective, rows in truth.items():
        v = rows.get("vanilla")
        if v is None:
            continue
        lines.append(f"`{objective}`: vanilla mask keeps {v['mean elsewhere']:.3f} of the cue-free bins on average, "
                     f"{v['mean on L bins']:.2f} of the L bins and {v['mean on H bins']:.2f} of the H bins "
                     f"(L-share {v['L-share']:.2f}, L-bias {v['L-bias']:.2f}"
                     + _words(settle_words(v["converged"], v.get("steps"), v.get("budget")), "; {}") + ")")
    judged = judge_uses_or_sensitivity(truth)
    mean_key, denser = judged.mean_objective, judged.per_image_measures_sensitivity
    if denser is None:
        return "; ".join(lines) + "."
    verdict = (" Holding each image's loss keeps more of the cue-free bins and more of the cue the network's "
               "decisions ignore: a frequency whose removal raises some images' losses and lowers others' "
               "changes nothing on average, yet every image's squared change counts. The paper's objective "
               f"therefore measures how *sensitive* each image's loss is to a frequency; the mean-loss objective "
               f"(`{mean_key}`) keeps what *suffices* to hold the mean loss, which is what the network *uses* where "
               "no other set of frequencies would do as well (page 10 names where the two part). If the same "
               "holds on photographs, Figure 3 "
               "of the paper (learned at batch 1, where the two coincide step by step but the paper's loss is "
               "each image's) is closer to a map of sensitivity than of use; this page shows it in the cue "
               "world only." if denser else
               " Holding each image's loss does not keep clearly more cue-free bins than holding the mean loss: "
               "here the two objectives measure much the same thing.")
    return "; ".join(lines) + "." + verdict


def figure4(cfg: Profile, n_bands: int | None = None, metric: str = "mean", progress: bool = True) -> dict:
    masks = {r: m.mask for r, m in dataset_masks(cfg, progress=progress).items()}
    out = experiments.band_energy_differences(masks, n_bands or cfg.bands, metric=metric,
                                              truth=get_dataset(cfg).truth)
    pipeline.save_result(cfg, f"figure4_{metric}", out["low_minus_high_radial"])
    return out

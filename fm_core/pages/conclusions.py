"""The conclusions page: the paper's four questions answered in one place, each from the
numbers and verdicts the other pages stored, with its evidence (page and section), its
spread and its limits.

Nothing is computed here: the page runs after the others (``after_others``) and reads
what they stored, for the real images (:func:`fm_core.pages.real_images.real_images_cfg`)
and for the cue world (the profile's own data). The verdicts are the pages' own
``judge_*`` functions, called again on the stored numbers, so an answer cannot say other
than the page it cites. A question whose results were not stored (a page left out with
``--only``) is answered "not built".

- :func:`judge_robust_low`: do robust networks use lower frequencies?
- :func:`judge_masks_read`: do the masks read what a network uses, and where do they not?
- :func:`judge_reversal`: does Table 2's reversal hold, and what does it test?
- :func:`judge_table3`: what does Table 3 show?
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fm_core.profiles import Profile
from fm_core.science.mask_classifier import wilson_interval
from fm_core.store import pipeline
from . import adversarial_reversal, cue_question, mask_classifier
from .common import VERDICT_KEY, held_out_cost, seeds_setting
from .real_images import real_images_cfg
from .robust_low import BEHAVIOUR_Z

# The pages each answer cites, as (notebook stem, section heading; "" for the whole page): the
# evidence links (tests/test_conclusions.py checks that each heading exists)
EVIDENCE = {
    "robust_low": (("04_dataset_masks", "Do the masks agree with behaviour?"),
                   ("10_cue_question", "What the numbers say")),
    "masks_read": (("04_dataset_masks", "Do the masks agree with behaviour?"),
                   ("10_cue_question", "What the numbers say"),
                   ("10_cue_question", "A third answer: what removing a cue costs"),
                   ("14_architectures", "What the numbers say")),
    "reversal": (("06_adversarial_reversal", "Table 2"),
                 ("06_adversarial_reversal", "Where the reversal is not built in: the robust-H world (cue world)")),
    "table3": (("07_mask_classifier", ""),),
}


def direction(flags) -> str:
    """``"yes"`` when every seed's flag is true, ``"no"`` when none is, else ``"mixed"``
    (the seeds disagree: the answer is a draw of the seed)."""
    flags = list(flags)
    return "yes" if flags and all(flags) else "no" if not any(flags) else "mixed"


def word(moved: int) -> str:
    """A page's three-way verdict (:func:`fm_core.pages.common.side`) as a word."""
    return {1: "yes", -1: "no", 0: "within seed spread"}[moved]


def _mean_sd(values) -> tuple[float, float]:
    v = [float(x) for x in values if x == x]
    return (float(np.mean(v)) if v else math.nan, float(np.std(v, ddof=1)) if len(v) > 1 else math.nan)


@dataclass(frozen=True)
class RobustLowAnswer:
    """Do robust (adversarially trained) networks use lower frequencies than vanilla ones?"""
    real_seeds: int                 # network seeds on real images (0: not built)
    real_by_behaviour: str          # "yes" / "no" / "mixed" over the seeds (low-pass preference)
    real_behaviour_gap: tuple       # (mean, SD over seeds) of the preference gap, points
    real_by_mask: str               # likewise for the mask's low share
    real_mask_gap: tuple            # (mean, SD) of the low-share gap
    real_behaviour_gaps: tuple      # the preference gap per seed, points
    real_mask_gaps: tuple           # the low-share gap per seed
    real_seed_names: tuple          # the network seeds, in that order
    cue_built: bool
    cue_by_behaviour: str           # page 10's behaviour verdict as a word
    cue_bias_gap: float             # L-bias, adversarial minus vanilla
    cue_bias_gap_sd: float | None   # its seed SD (None: not measured)
    cue_by_mask: str                # page 10's mask verdict as a word
    cue_share_gap: float
    cue_robust_control_same_side: bool | None  # the robust-H control: both networks read the same cue
    # where each spread was measured (common.seeds_setting): the real images' extra seeds train
    # cheaper; the cue world's SD is fm spread's, at the profile's own settings
    real_seeds_setting: str = ""
    cue_seeds_setting: str = ""
    # the behaviour gap's sampling line per seed (robust_low.BEHAVIOUR_Z standard errors,
    # points; empty: not measured) and the seeds whose gap lies within it
    real_behaviour_lines: tuple = ()
    real_behaviour_within_noise: int = 0
    # the mask gap's sampling line (BEHAVIOUR_Z pooled standard errors; NaN: not measured)
    # and the seeds whose mask gap lies within it
    real_mask_line: float = math.nan
    real_mask_within_noise: int = 0


def judge_robust_low(real: dict, cues: dict, spread: dict | None = None) -> RobustLowAnswer:
    """From the real images' ``real_images_masks`` and the cue world's ``cues`` results."""
    verdict = (real.get("real_images_masks") or {}).get(VERDICT_KEY, {}).get("robust_low")
    if verdict:
        seeds = len(verdict["by_mask"])
        names = (real["real_images_masks"].get("inputs") or {}).get("seeds") or list(range(1, seeds + 1))
        real_part = dict(real_seeds=seeds, real_by_behaviour=direction(verdict["by_behaviour"]),
                         real_behaviour_gap=_mean_sd(verdict["behaviour_gap"]),
                         real_by_mask=direction(verdict["by_mask"]), real_mask_gap=_mean_sd(verdict["mask_gap"]),
                         real_behaviour_gaps=tuple(verdict["behaviour_gap"]), real_mask_gaps=tuple(verdict["mask_gap"]),
                         real_seed_names=tuple(str(n) for n in names),
                         real_behaviour_lines=tuple(BEHAVIOUR_Z * e for e in verdict.get("behaviour_se") or ()),
                         real_behaviour_within_noise=sum(verdict.get("behaviour_within_noise") or ()),
                         real_mask_line=BEHAVIOUR_Z * verdict.get("mask_se", math.nan),
                         real_mask_within_noise=sum(verdict.get("mask_within_noise") or ()),
                         real_seeds_setting=seeds_setting(names, (real["real_images_masks"].get("inputs") or {})
                                                          .get("extra seeds")))
    else:
        real_part = dict(real_seeds=0, real_by_behaviour="not built", real_behaviour_gap=(math.nan, math.nan),
                         real_by_mask="not built", real_mask_gap=(math.nan, math.nan), real_behaviour_gaps=(),
                         real_mask_gaps=(), real_seed_names=())
    cue = _cue_answer(cues, spread)
    return RobustLowAnswer(
        **real_part, cue_built=cue is not None,
        cue_by_behaviour=word(cue.behaviour_moved) if cue else "not built",
        cue_bias_gap=cue.bias_gap if cue else math.nan, cue_bias_gap_sd=cue.bias_gap_sd if cue else None,
        cue_by_mask=word(cue.masks_moved) if cue else "not built",
        cue_share_gap=cue.share_gap if cue else math.nan,
        cue_robust_control_same_side=cue.robust_same_side if cue else None,
        cue_seeds_setting=seeds_setting((spread or {}).get("seeds")) if cue and cue.bias_gap_sd is not None else "")


def _cue_rows(cues: dict) -> dict:
    """Page 10's rows (``{condition: {"L-bias", "L-share", ...}}``) from its stored result."""
    rows: dict = {}
    for key, value in cues.items():
        name, _, field = key.rpartition(".")
        if field in ("L-bias", "L-share", "clean, %") and name:
            rows.setdefault(name, {})[field] = value
    return rows


def _cue_answer(cues: dict, spread: dict | None):
    """Page 10's verdict (:func:`fm_core.pages.cue_question.judge_answer`) recomputed with the
    seed spread, or None when page 10 stored nothing."""
    if not cues:
        return None
    return cue_question.judge_answer({"rows": _cue_rows(cues)}, spread)


@dataclass(frozen=True)
class MasksReadAnswer:
    """Do the masks read what a network uses? Where do they disagree with behaviour?"""
    real_rho_mean: float            # mask low share vs low-pass preference, Spearman per seed, mean
    real_rho_sd: float
    real_line: float                # the agreement line (exact permutation test)
    real_agree: bool | None         # None: not built
    cue_conditions: int             # conditions of page 10 (0: not built)
    cue_agree: tuple                # conditions whose L-share lies within AGREES_WITHIN of the L-bias
    cue_disagree: tuple
    cue_rho_bias: float             # Spearman's rho, L-share vs L-bias (conflict behaviour)
    cue_gap_bias: float             # mean |L-bias - L-share|
    cue_rho_use: float              # Spearman's rho, L-share vs use share (ablation)
    cue_gap_use: float              # mean |use share - L-share|
    closer_to: str                  # "use" / "conflict": the behavioural read-out the masks lie nearer
    architectures_followed: tuple   # architectures whose masks follow behaviour (page 14's line)
    architectures_compared: tuple
    cue_rho_bias_without_controls: float = math.nan  # the same over the conditions that are not positive controls


def judge_masks_read(real: dict, cues: dict, ablation: dict, archs: dict) -> MasksReadAnswer:
    """From ``real_images_masks`` (real images), ``cues`` and ``cue_ablation`` (page 10) and
    ``architectures`` (page 14)."""
    mb = (real.get("real_images_masks") or {}).get(VERDICT_KEY, {}).get("mask_behaviour")
    verdict = _cue_answer(cues, None)
    gap_bias, gap_use = cues.get("mean_abs_gap", math.nan), ablation.get("mean_abs_gap", math.nan)
    closer = ("not built" if gap_bias != gap_bias or gap_use != gap_use
              else "use" if gap_use < gap_bias else "conflict")
    arch_verdict = archs.get(VERDICT_KEY)  # page 14's, stored: its rows' chance flags are not
    return MasksReadAnswer(
        real_rho_mean=mb["rho_mean"] if mb else math.nan, real_rho_sd=mb["rho_sd"] if mb else math.nan,
        real_line=mb["line"] if mb else math.nan, real_agree=bool(mb["agree"]) if mb else None,
        cue_conditions=len(_cue_rows(cues)), cue_agree=verdict.agree if verdict else (),
        cue_disagree=verdict.disagree if verdict else (),
        cue_rho_bias=cues.get("rank_correlation", math.nan), cue_gap_bias=gap_bias,
        cue_rho_use=ablation.get("rank_correlation", math.nan), cue_gap_use=gap_use, closer_to=closer,
        architectures_followed=tuple(arch_verdict["masks_follow"]) if arch_verdict else (),
        architectures_compared=tuple(sorted({k.split(".")[0] for k in archs if k != VERDICT_KEY})),
        cue_rho_bias_without_controls=cues.get("rank_correlation_without_controls", math.nan))


@dataclass(frozen=True)
class ReversalAnswer:
    """Table 2: does an image's own mask restore the right answer to its adversarial image
    more often than a random mask of the same size, and is that built in?"""
    real_images: int                # attacked images (0: not built)
    real_own_mask: float            # % right through its own mask M(x_A)
    real_random_mask: float         # % right through a random mask of the same size
    real_holds: bool | None         # the own mask's 95% interval lies above the random mask's
    real_attack_passes: bool | None # the masks let ATTACK_PASSES or more of the attack's energy through
    real_energy_kept: float         # mean share of the attack's energy the masks let through
    robust_h_tested: bool | None    # the robust-H world's reversal was tested (None: not built)
    robust_h_holds: bool | None     # there, the own mask restores more than a random one
    robust_h_attack_removed: bool | None


def judge_reversal(real: dict, robust_h: dict) -> ReversalAnswer:
    """From the real images' ``table2`` and ``attack_energy_kept``, and the cue world's
    ``robust_h_reversal`` (page 06)."""
    t2, kept = real.get("table2") or {}, real.get("attack_energy_kept") or {}
    holds = None
    if t2:
        n = int(t2["n"])
        own, rand = (wilson_interval(round(t2[row] * n / 100), n)
                     for row in ("M(x_A)", "random mask, same size (x_A)"))
        holds = bool(own[0] > rand[1])
    construction = adversarial_reversal.judge_construction(kept) if kept else None
    world = adversarial_reversal.judge_robust_world(robust_h) if robust_h else None
    return ReversalAnswer(
        real_images=int(t2.get("n", 0)), real_own_mask=t2.get("M(x_A)", math.nan),
        real_random_mask=t2.get("random mask, same size (x_A)", math.nan), real_holds=holds,
        real_attack_passes=construction.attack_passes_masks if construction else None,
        real_energy_kept=kept.get("mean", math.nan),
        robust_h_tested=world.tested if world else None,
        robust_h_holds=world.own_mask_restores_more if world else None,
        robust_h_attack_removed=world.attack_mostly_removed if world else None)


@dataclass(frozen=True)
class Table3Answer:
    """Table 3: do single-image masks carry their image's class?"""
    built: bool
    accuracy: float                 # the linear classifier's k-fold test accuracy, %
    chance: float                   # 100 / classes, %
    majority: float                 # the largest class's share, %
    p_value: float                  # the permutation test's p
    carries_class_information: bool | None
    p_at_floor: bool | None


def judge_table3(real: dict) -> Table3Answer:
    """From the real images' ``table3`` (page 07)."""
    t3 = real.get("table3")
    if not t3:
        return Table3Answer(built=False, accuracy=math.nan, chance=math.nan, majority=math.nan,
                            p_value=math.nan, carries_class_information=None, p_at_floor=None)
    verdict = mask_classifier.judge_table3(t3)
    return Table3Answer(built=True, accuracy=t3["true_labels"]["test_mean"], chance=t3["chance"],
                        majority=t3["majority"], p_value=t3["p_value"],
                        carries_class_information=verdict.carries_class_information, p_at_floor=verdict.p_at_floor)


@dataclass(frozen=True)
class Conclusions:
    robust_low: RobustLowAnswer
    masks_read: MasksReadAnswer
    reversal: ReversalAnswer
    table3: Table3Answer
    real_data: str                  # the real images' data set
    cue_data: str                   # the cue world's
    real_mask_costs: dict           # regime -> held-out points the real images' dataset mask costs (Table 1)
    real_mask_fit_costs: dict = field(default_factory=dict)  # the same on the mask's own (fit-half) images


def conclusions(cfg: Profile, spread: dict | None = None) -> Conclusions:
    """Every answer, from the results stored for ``cfg`` (the cue world) and its real
    images; ``spread`` is the cue world's seed spread (:meth:`fm_core.book.report.Page.spread`)."""
    real_cfg = real_images_cfg(cfg)
    cue, real = pipeline.load_results(cfg), pipeline.load_results(real_cfg)
    rows = {r: row for r, row in (real.get("table1") or {}).items() if isinstance(row, dict) and "masked" in row}
    return Conclusions(
        robust_low=judge_robust_low(real, cue.get("cues") or {}, spread),
        masks_read=judge_masks_read(real, cue.get("cues") or {}, cue.get("cue_ablation") or {},
                                    cue.get("architectures") or {}),
        reversal=judge_reversal(real, cue.get("robust_h_reversal") or {}),
        table3=judge_table3(real), real_data=real_cfg.data, cue_data=cfg.data,
        real_mask_costs={r: held_out_cost(row["standard"], row["masked"]) for r, row in rows.items()},
        real_mask_fit_costs={r: held_out_cost(row.get("standard_fit"), row.get("masked_fit")) for r, row in rows.items()
                             if row.get("masked_fit") is not None})


__all__ = ["conclusions", "judge_robust_low", "judge_masks_read", "judge_reversal", "judge_table3",
           "direction", "word", "EVIDENCE"]

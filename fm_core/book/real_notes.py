"""The words of the paper's pages on real images (:mod:`fm_core.pages.real_images`): thin
templates over its verdicts and numbers, no threshold of their own (each line is the
judge_* function's, named there).
"""
from __future__ import annotations

import math

import numpy as np

from fm_core.data import fashion_mnist
from fm_core.nets.apgd import APGD_RESTARTS, APGD_STEPS
from fm_core.pages import real_images
from fm_core.pages.common import held_out_cost, judge_mask
from fm_core.pages.real_images import AGREEMENT_ALPHA, AGREEMENT_LINE, ROBUST_GAP, MaskBehaviourVerdict, RobustVerdict
from fm_core.pages.robust_low import BEHAVIOUR_Z, RobustLowVerdict
from fm_core.profiles import PAPER_EPS_NORMALISED, REGIMES, Profile
from fm_core.science.filtering import median_radius

# Which page runs on which data set, and why (page 01's table and the introduction's)
PAGE_WORLDS = (
    ("00 Introduction", "cue world", "draws the mask layer with the cue world's vanilla network: no real-image network trained for a picture"),
    ("01 Data sets", "both", "the real images first, then the cue world"),
    ("02 Blue shift", "none", "pure tones through activation functions: no data"),
    ("03 Networks, Table 1", "real images", "the paper's table, on images where nothing is planted"),
    ("04 Dataset masks, Figures 3, 4", "real images; cue world for the choice of mask settings",
     "settings are chosen where the answer is known, then used on real images"),
    ("05 Single-image masks, Figure 5", "real images", "the paper's figure"),
    ("06 Adversarial reversal, Table 2, Figures 6, 7", "real images; the robust-H world on the cue world",
     "the paper's table; the robust-H world needs planted cues"),
    ("07 Mask classifier, Table 3, Figure 8", "real images", "the paper's table"),
    ("08, 10-16 Past the paper", "cue world", "the answer is planted, so the instrument itself is tested"),
    ("09 Reproduction summary", "real images", "the paper's numbers beside the real-image build"),
)


def page_worlds_rows() -> dict:
    """:data:`PAGE_WORLDS` as a table's rows (``tables.frame``)."""
    return {page: {"data set": data, "why": why} for page, data, why in PAGE_WORLDS}


def data_choice_note(cfg: Profile) -> str:
    """Page 01: which real images, how many, and why, from the data module's constants."""
    names = ", ".join(fashion_mnist.CLASS_NAMES)
    return (f"**Fashion-MNIST's first {fashion_mnist.N_CLASSES} classes** ({names}), "
            f"{fashion_mnist.N_TRAIN:,} training and {fashion_mnist.N_VAL:,} validation images: the paper's "
            f"split sizes (its {fashion_mnist.N_CLASSES} Imagenette classes had {fashion_mnist.N_TRAIN:,} and "
            f"{fashion_mnist.N_VAL:,}), a fixed-seed draw stratified by class from Fashion-MNIST's training and "
            f"test files. The classes are the first {fashion_mnist.N_CLASSES} by label index: a rule fixed before "
            f"any network was trained or any mask learned, that looks at no result. 28x28 images padded with "
            f"zeros to {fashion_mnist.PADDED_SIZE}x{fashion_mnist.PADDED_SIZE}, grayscale. Fashion-MNIST: Xiao, "
            f"Rasul and Vollgraf (2017), arXiv:1708.07747, MIT licence; installed offline from Debian's "
            f"`{fashion_mnist.DEBIAN_PACKAGE}` (`{fashion_mnist.GET_COMMAND}`). This build "
            + (f"trains on {cfg.n_train:,} of the training images (the profile's cheaper setting)."
               if cfg.n_train is not None and cfg.n_train < fashion_mnist.N_TRAIN else "trains on all of them.")
            + (f" The validation images used: {cfg.n_val:,}"
               + (" (the profile's cheaper setting)." if cfg.n_val < fashion_mnist.N_VAL else ".")
               if cfg.n_val is not None else ""))


def extra_seeds_note(cfg: Profile) -> str:
    """How the behaviour sections' extra seeds are trained (their cheaper setting)."""
    seeds = real_images.seeds_for(cfg)
    cheaper = real_images.extra_seeds_setting(cfg)
    setting = ", ".join(f"{v} {SETTING_NAMES.get(k, k)}" for k, v in cheaper.items())
    return (f"Seeds {', '.join(str(s) for s in seeds)}: the first is the page's own networks; "
            + (f"the others are **extra seeds, {setting}** (cheaper, so that the book keeps its time)."
               if cheaper else "the others are trained as the first."))


def eps_note(eps: dict) -> str:
    """Page 03: the eps rule and, beside it, the weakest multiple that breaks the vanilla network."""
    rule = (f"**The eps.** The paper attacks at {PAPER_EPS_NORMALISED:g} in normalised units; carried over by this "
            f"data set's pixel std ({eps['std']:.3f}) that is {eps['paper eps_pixel'] * 255:.2f}/255 in pixel "
            f"units, the eps used on these pages ({eps['profile eps_pixel'] * 255:.2f}/255).")
    tried = ", ".join(f"{m} x: {a:.1f}%" for m, a in eps["accuracy by multiple"].items())
    if eps["breaking multiple"] is None:
        broken = (f" No multiple tried breaks the vanilla network (below {eps['below, %']:g}%): {tried}.")
    else:
        m = eps["breaking multiple"]
        broken = (f" Beside it, chosen by no mask: the weakest multiple whose PGD brings the vanilla network below "
                  f"{eps['below, %']:g}% is **{m:g} x** ({m * eps['paper eps_pixel'] * 255:.2f}/255); vanilla accuracy "
                  f"under PGD by multiple: {tried}.")
    return rule + broken


def robust_note(verdict: RobustVerdict, values: dict) -> str:
    """Page 03: is the adversarial network robust, by APGD beside the paper's PGD?"""
    row = values["adversarial"]
    numbers = (f"clean {row['clean, %']:.1f}%, PGD {row['PGD, %']:.1f}%, APGD {row['APGD, %']:.1f}% "
               f"(APGD is {verdict.apgd_gap:.1f} points below PGD)")
    strength = values.get("APGD")
    if strength and (strength["steps"], strength["restarts"]) != (APGD_STEPS, APGD_RESTARTS):
        numbers += (f"; APGD at this profile's cheaper strength, {strength['steps']} steps and "
                    f"{strength['restarts']} restart(s) (the default: {APGD_STEPS} and {APGD_RESTARTS})")
    if verdict.robust:
        return (f"The adversarial network is robust at this eps: {numbers}; APGD stays within {ROBUST_GAP:g} points "
                f"of PGD and above chance.")
    why = "; ".join(w for w, on in (
        (f"APGD is more than {ROBUST_GAP:g} points below PGD, the sign of gradient masking: PGD overstated "
         f"its robustness", verdict.gradient_masking_suspected),
        ("under APGD it is at chance", not verdict.above_chance)) if on)
    return f"**The adversarial network is not robust**: {numbers}. {why[0].upper() + why[1:]}. That is a result."


def score_definition(cfg: Profile) -> str:
    """Page 04: the score and its line, stated before any number."""
    r_star, k = median_radius(cfg.size), len(real_images.seeds_for(cfg))
    return (f"**The score, fixed before the numbers.** Per network, on the score half: its dataset mask's "
            f"**low share**, the share of the mask's mass within the median radius r* = {r_star:.2f} cycles per "
            f"image (half the frequency bins lie inside), and its **low preference**, accuracy on images low-passed "
            f"at r* minus accuracy on images high-passed at r* (points). Spearman's rho between the two is taken "
            f"**per seed**, over the {len(REGIMES)} regimes, and the seeds are not pooled: "
            + (f"the extra seeds train in a cheaper setting, so a rho over all {k * len(REGIMES)} networks would rank "
               f"the seeds' settings, not the regimes. " if real_images.extra_seeds_setting(cfg) else
               f"a rho over all {k * len(REGIMES)} networks would also rank what differs between seeds. ")
            + f"Mask and behaviour **agree** when the mean of the {k} seeds' rhos is at least "
            f"{AGREEMENT_LINE:.2f}: the smallest mean with an exact one-sided p of at most {AGREEMENT_ALPHA:g} under "
            f"no association (the exact permutation distribution of rho at {len(REGIMES)} regimes, over {k} "
            f"independent seeds). One seed alone says little: at {len(REGIMES)} regimes one swapped pair moves rho "
            f"by 0.1 or more. The paper's direction: per seed, the adversarial "
            f"network's low share and low preference both above the vanilla network's.")


def mask_behaviour_note(verdict: MaskBehaviourVerdict) -> str:
    """Page 04: do the masks rank the regimes as their behaviour does, seed by seed?"""
    seeds = ", ".join("undefined" if math.isnan(r) else f"{r:.2f}" for r in verdict.rho_per_seed)
    if math.isnan(verdict.rho_mean):
        return (f"Spearman's rho per seed: {seeds}. A seed's rho is undefined (a constant score over the regimes): "
                f"**no agreement** can be claimed.")
    spread = "" if math.isnan(verdict.rho_sd) else f", SD {verdict.rho_sd:.2f} over seeds"
    return (f"Spearman's rho between low share and low preference over the regimes, per seed: {seeds}; "
            f"**mean {verdict.rho_mean:.2f}**{spread} (exact one-sided p {verdict.p_value:.3g} under no "
            f"association). "
            + (f"At or above the line {verdict.line:.2f}: **the masks agree with behaviour**."
               if verdict.agree else
               f"Below the line {verdict.line:.2f}: **the masks do not agree with behaviour**; their low shares "
               f"do not rank the regimes as the filtered images do."))


def robust_low_note(verdict: RobustLowVerdict) -> str:
    """Page 04: the paper's direction (adversarial training moves to low frequencies), seed by seed."""
    def said(all_, some, what):
        return (f"on every seed ({what})" if all_ else
                f"on {sum(some)} of {len(some)} seeds only ({what})" if any(some) else f"on no seed ({what})")

    mask = ", ".join(f"{g:+.3f}" for g in verdict.mask_gap)
    beh = ", ".join(f"{g:+.1f}" for g in verdict.behaviour_gap)
    return ("**Does adversarial training move the network to lower frequencies?** By the mask: "
            + ("yes " if verdict.by_mask_all else "not throughout: ")
            + said(verdict.by_mask_all, verdict.by_mask, f"low share, adversarial minus vanilla: {mask}")
            + ". By behaviour: " + ("yes " if verdict.by_behaviour_all else "not throughout: ")
            + said(verdict.by_behaviour_all, verdict.by_behaviour, f"low preference, points: {beh}") + "."
            + _within_noise(verdict) + _mask_within_noise(verdict))


def sampling_line_words(lines, within: int) -> str:
    """The behaviour gaps' sampling lines (points, one per seed) and how many gaps lie
    within theirs, in words; page 04 and the conclusions both say it this way."""
    shown = ", ".join(f"{v:.1f}" for v in lines)
    return (f"a seed counts for behaviour only beyond {BEHAVIOUR_Z:g} sampling standard errors of its gap "
            f"({shown} points: which of the data set's images form the score half moves the four accuracies "
            f"it combines); {within} of the {len(lines)} gaps {lie(within)} within {'its' if within == 1 else 'theirs'}")


def lie(count: int) -> str:
    """The verb for "N of the gaps lie within ..." (one lies)."""
    return "lies" if count == 1 else "lie"


def mask_line_words(line: float, within: int, seeds: int) -> str:
    """The mask gaps' sampling line (one, pooled over the seeds) and how many gaps lie
    within it, in words; page 04 and the conclusions both say it this way."""
    return (f"a seed counts for the mask only beyond {BEHAVIOUR_Z:g} sampling standard errors of its gap "
            f"({line:.3f}: masks learned on the other half of the images, for the same networks, "
            f"move the gap by this much; pooled over {seeds} seeds); {within} of the {seeds} gaps {lie(within)} within it")


def _mask_within_noise(verdict: RobustLowVerdict) -> str:
    """The mask gaps that lie within their sampling line: no direction on those seeds."""
    if not verdict.mask_within_noise:  # empty when no line was measured
        return ""
    within = sum(verdict.mask_within_noise)
    words = mask_line_words(BEHAVIOUR_Z * verdict.mask_se, within, len(verdict.mask_gap))
    return f" {words[0].upper()}{words[1:]}" + (": on those seeds the mask shows no direction." if within else ".")


def _within_noise(verdict: RobustLowVerdict) -> str:
    """The behaviour gaps that lie within their sampling line: no direction on those seeds."""
    if not verdict.behaviour_se or all(e != e for e in verdict.behaviour_se):
        return ""
    within = sum(verdict.behaviour_within_noise)
    words = sampling_line_words([BEHAVIOUR_Z * e for e in verdict.behaviour_se], within)
    return f" {words[0].upper()}{words[1:]}" + (": on those seeds behaviour shows no direction." if within else ".")


def filtered_takeaway(behaviour: dict) -> str:
    """One sentence under the filtered-accuracy figure, from its numbers: at r*, which regime
    prefers low-pass images most and which least."""
    prefs = {}
    for regime, runs in behaviour["networks"].items():
        at = [run["at median radius"] for run in runs.values()]
        prefs[regime] = float(np.mean([a["low"][0] - a["high"][0] for a in at]))
    most, least = max(prefs, key=prefs.get), min(prefs, key=prefs.get)
    return (f"At the median radius (dotted), the {most} network prefers low-pass images most "
            f"({prefs[most]:+.1f} points, low-pass minus high-pass, mean over seeds) and the {least} network least "
            f"({prefs[least]:+.1f}).")


def ablation_takeaway(behaviour: dict) -> str:
    """One sentence under the band-ablation figure: the band whose removal costs each
    regime most, from the numbers."""
    worst = {}
    for regime, runs in behaviour["networks"].items():
        cost = np.nanmean([run["band ablation"]["clean"] - np.asarray(run["band ablation"]["removed"], dtype=float)
                           for run in runs.values()], axis=0)
        worst[regime] = (int(np.nanargmax(cost)), float(np.nanmax(cost)))
    return ("The band each network can least do without: "
            + "; ".join(f"{r} band {b} ({c:.1f} points)" for r, (b, c) in worst.items()) + ".")


def scatter_takeaway(values: dict) -> str:
    """One sentence under the mask-vs-behaviour scatter: the regimes' mean positions."""
    means = {r: (np.mean([v["low share"] for v in runs.values()]), np.mean([v["low preference"] for v in runs.values()]))
             for r, runs in values["networks"].items()}
    by_share = sorted(means, key=lambda r: means[r][0])
    by_pref = sorted(means, key=lambda r: means[r][1])
    return (f"By mask low share the regimes rank {' < '.join(by_share)}; by low preference "
            f"{' < '.join(by_pref)} (means over seeds).")


def convergence_count(values: dict) -> str:
    """How many of the compared dataset masks converged (:func:`fm_core.pages.common.judge_mask`:
    settled before their budget ran out and cost at most ACCURACY_SLACK held-out points); each
    that did not is named with its status ("at budget", "costs N pts")."""
    runs = [(r, s, judge_mask(v["mask converged"], v.get("mask steps"), v.get("mask budget"),
                              held_out_cost(v.get("clean, %"), v.get("masked, %"))))
            for r, seeds in values["networks"].items() for s, v in seeds.items()]
    flagged = [f"{r} (seed {s}; {status.label})" for r, s, status in runs if not status.converged]
    return (f"{len(runs) - len(flagged)} of the {len(runs)} dataset masks converged"
            + (f"; not: {', '.join(flagged)}." if flagged else "."))


SETTING_NAMES = {"n_train": "training images", "n_val": "validation images", "epochs": "epochs",
                 "dmask_max_steps": "dataset-mask steps"}


def cheaper_note(cfg: Profile, cues: Profile) -> str:
    """Which settings the real-image networks change from the profile's (for time), if any."""
    changed = {k: v for k, v in real_images.REAL_CHEAPER.get(cfg.name, {}).items() if getattr(cues, k) != v}
    if not changed:
        return ""
    said = ", ".join(f"{SETTING_NAMES.get(k, k)} {v} (the profile's {'all' if getattr(cues, k) is None else getattr(cues, k)})"
                     for k, v in changed.items())
    return f"On real images this profile trains cheaper, for the book's time: {said}."

"""The conclusions page in words: thin templates over :mod:`fm_core.pages.conclusions`'
answers. Every number and every yes or no comes from an answer's fields; the links name
the page (and section) each answer reads."""
from __future__ import annotations

import math

from fm_core.pages.adversarial_reversal import ATTACK_PASSES
from fm_core.pages.common import ACCURACY_SLACK, held_out_points, own_images_note, points_span
from fm_core.pages.conclusions import EVIDENCE, Conclusions, MasksReadAnswer, ReversalAnswer, RobustLowAnswer, \
    Table3Answer
from fm_core.pages.cue_question import AGREES_WITHIN
from fm_core.pages.robust_low import BEHAVIOUR_Z
from fm_core.book.real_notes import lie, mask_line_words, sampling_line_words
from fm_core.profiles import Profile

TITLES = {"04_dataset_masks": "page 04", "06_adversarial_reversal": "page 06", "07_mask_classifier": "page 07",
          "10_cue_question": "page 10", "14_architectures": "page 14"}


def evidence(question: str) -> str:
    """The answer's sources as links (``[page 10, The answer](10_cue_question.ipynb)``)."""
    links = [f"[{TITLES[stem]}]({stem}.ipynb)" + (f" (\"{section}\")" if section else "") for stem, section in EVIDENCE[question]]
    return "*Evidence:* " + "; ".join(links) + "."


def _sd(value: float | None, digits: int, unit: str = "") -> str:
    return "" if value is None or value != value else f", seed SD {value:.{digits}f}{unit}"


def _over_seeds(flag: str, seeds: int, what: str) -> str:
    return {"yes": f"yes, on each of the {seeds} seeds ({what})",
            "no": f"no, on none of the {seeds} seeds ({what})",
            "mixed": f"on some of the {seeds} seeds, not on others ({what})",
            "not built": "not built in this book"}[flag]


def _noise(a: RobustLowAnswer) -> str:
    """Which seeds' behaviour gaps lie within their sampling line (a seed counts for the
    paper's direction only beyond it)."""
    return "; " + sampling_line_words(a.real_behaviour_lines, a.real_behaviour_within_noise) \
        if a.real_behaviour_lines else ""


def robust_low_prose(a: RobustLowAnswer, real_data: str) -> str:
    lines = []
    if a.real_seeds:
        gap, sd = a.real_behaviour_gap
        mgap, msd = a.real_mask_gap
        lines.append(
            f"**On real images ({real_data}).** By behaviour: "
            + _over_seeds(a.real_by_behaviour, a.real_seeds, f"the adversarial network's low-pass preference minus the "
                          f"vanilla network's, {gap:+.1f} points on average{_sd(sd, 1, ' points')}"
                          + (f"; {a.real_seeds_setting}" if a.real_seeds_setting else ""))
            + _noise(a)
            + ". By the mask: "
            + _over_seeds(a.real_by_mask, a.real_seeds, f"low share of the mask, adversarial minus vanilla, "
                          f"{mgap:+.3f}{_sd(msd, 3)}")
            + ("" if a.real_mask_line != a.real_mask_line else
               "; " + mask_line_words(a.real_mask_line, a.real_mask_within_noise, a.real_seeds))
            + ".")
    else:
        lines.append(f"**On real images ({real_data}):** not built in this book.")
    if a.cue_built:
        control = ("" if a.cue_robust_control_same_side is None else
                   " In the robust-H control (the H cue far above eps) both networks read the same cue: the shift "
                   "comes from the H cue being attackable, not from adversarial training as such."
                   if a.cue_robust_control_same_side else
                   " In the robust-H control the two networks read different cues.")
        lines.append(f"**In the cue world.** By behaviour: {a.cue_by_behaviour} (L-bias, adversarial minus vanilla, "
                     f"{a.cue_bias_gap:+.2f}{_sd(a.cue_bias_gap_sd, 2, ' over ' + (a.cue_seeds_setting or 'the seeds of fm spread'))}). By the mask: {a.cue_by_mask} (L-share "
                     f"difference {a.cue_share_gap:+.2f}). There the answer is planted: an attack at eps can erase "
                     "the H cue but not the L cue, so a robust network has to read L." + control)
    lines.append("**Answer.** " + robust_low_answer(a))
    return "\n\n".join(lines + [evidence("robust_low")])


def robust_low_answer(a: RobustLowAnswer) -> str:
    """One sentence that combines the two worlds and the two read-outs."""
    if not a.real_seeds:
        return "On real images this book has no answer (the pages were not built)."
    both = {a.real_by_behaviour, a.real_by_mask}
    # every seed one way is a direction, not a size: with no effect at all a seed points
    # either way as a coin does, so all of n seeds agree 1 time in 2^n (the direction is fixed
    # in advance: the paper's)
    n, (gap, sd) = a.real_seeds, a.real_behaviour_gap
    weak = (f" With {n} seeds that is all the design can show: with no effect at all, every seed would point "
            f"one given way 1 time in {2 ** n}"
            + (f", and the behaviour gap's mean ({gap:+.1f} points) lies within one seed SD ({sd:.1f}) of zero."
               if sd == sd and abs(gap) < sd else "."))
    if both == {"yes"}:
        return "Yes on these real images, by behaviour and by the mask, on every seed." + weak
    if both == {"no"}:
        return ("No on these real images: neither behaviour nor the mask moves to low frequencies on any seed."
                + weak)
    return (f"Not settled on these real images: by behaviour {a.real_by_behaviour}, by the mask "
            f"{a.real_by_mask} over the seeds. The paper's claim is neither confirmed nor refuted here.")


def robust_low_takeaway(a: RobustLowAnswer) -> str:
    """The sentence under the per-seed figure."""
    up_b = sum(g > 0 for g in a.real_behaviour_gaps)
    up_m = sum(g > 0 for g in a.real_mask_gaps)
    n = len(a.real_behaviour_gaps)
    if not n:
        return "Not built in this book."
    text = (f"Adversarial minus vanilla network, per network seed (red: the paper's direction; grey: within the "
            f"seed's sampling line). The adversarial "
            f"network prefers low-pass images more on {up_b} of {n} seeds, and its mask keeps a larger low share "
            f"on {up_m} of {n}.")
    if a.real_behaviour_lines:
        text += (f" Grey whiskers: each seed's sampling line ({BEHAVIOUR_Z:g} standard errors); "
                 f"{a.real_behaviour_within_noise} of the {n} behaviour bars "
                 f"{lie(a.real_behaviour_within_noise)} within {'its' if a.real_behaviour_within_noise == 1 else 'theirs'}, "
                 "no direction there.")
    if a.real_mask_line == a.real_mask_line:
        text += (f" On the right the line is one for every seed (pooled): {a.real_mask_within_noise} of the {n} "
                 f"mask bars {lie(a.real_mask_within_noise)} within it.")
    return text


def masks_read_prose(a: MasksReadAnswer) -> str:
    lines = []
    if a.real_agree is None:
        lines.append("**On real images:** not built in this book.")
    else:
        rho = ("undefined on some seed (a score constant over the regimes), which counts as no agreement"
               if math.isnan(a.real_rho_mean) else
               f"{a.real_rho_mean:.2f}{_sd(a.real_rho_sd, 2)}")
        lines.append(f"**On real images.** The masks' low shares rank the five regimes as their low-pass preference "
                     f"does with a mean Spearman's rho of {rho}, against the line {a.real_line:.2f} (exact "
                     f"one-sided p at most 0.01): " + ("they **agree**." if a.real_agree else "they **do not agree**."))
    if a.cue_conditions:
        closer = {"use": "what the network needs (the ablation's use share)",
                  "conflict": "which cue the network follows when the cues conflict (the L-bias)",
                  "not built": "(one of the two read-outs is not built)"}[a.closer_to]
        lines.append(
            f"**In the cue world** ({a.cue_conditions} conditions), the mask's L-share lies within {AGREES_WITHIN:g} "
            f"of the L-bias for {len(a.cue_agree)}, and not for: {', '.join(a.cue_disagree) or 'none'}. Against the "
            f"L-bias: Spearman's rho {a.cue_rho_bias:.2f}"
            + ("" if math.isnan(a.cue_rho_bias_without_controls) else
               f" ({a.cue_rho_bias_without_controls:.2f} without the positive controls, which sit at the ends "
               "by design)")
            + f", mean gap {a.cue_gap_bias:.3f}; against the use share: "
            f"{a.cue_rho_use:.2f} and {a.cue_gap_use:.3f}. The masks lie nearer to {closer}. Page 10's ablation "
            "section says, condition by condition, where a mask keeps a cue the network does not need on full "
            "images: the mask holds the loss of *filtered* images, so it answers what suffices there, not what "
            "the network uses on full ones.")
    if a.architectures_compared:
        rest = [x for x in a.architectures_compared if x not in a.architectures_followed]
        lines.append("**Other architectures** (page 14): the masks follow behaviour within its line for "
                     + (f"{', '.join(a.architectures_followed)}" + (f", not for {', '.join(rest)}." if rest else ".")
                        if a.architectures_followed else f"neither architecture ({', '.join(rest)})."))
    lines.append("**Answer.** " + masks_read_answer(a))
    return "\n\n".join(lines + [evidence("masks_read")])


def masks_read_answer(a: MasksReadAnswer) -> str:
    """One sentence: where the masks follow behaviour, where not, from the counts."""
    parts = []
    if a.cue_conditions:
        parts.append(f"in the cue world the masks follow behaviour for {len(a.cue_agree)} of {a.cue_conditions} "
                     f"conditions, and lie nearer to "
                     + ("use (the ablation) than to conflict behaviour (the L-bias)" if a.closer_to == "use" else
                        "conflict behaviour (the L-bias) than to use (the ablation)"))
    if a.real_agree is not None:
        parts.append("on real images they " + ("agree with behaviour" if a.real_agree else
                                                "do not agree with behaviour by this book's test"))
    if not parts:
        return "Not built in this book."
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] + ". A mask holds the loss of filtered images: it reads what suffices "
            "for the network once other frequencies are gone, which is what it uses only where the two coincide.")


def reversal_prose(a: ReversalAnswer, real_data: str) -> str:
    lines = []
    if a.real_images:
        lines.append(
            f"**On real images ({real_data}).** Through its own mask, {a.real_own_mask:.1f}% of {a.real_images} "
            f"attacked images are classified right again; through a random mask of the same size "
            f"{a.real_random_mask:.1f}%: " + ("the reversal **holds** (the 95% intervals lie apart)."
                                              if a.real_holds else "the reversal does **not** hold by the 95% intervals.")
            + f" The masks let {100 * a.real_energy_kept:.1f}% of the attack's energy through on average: "
            + (f"at least {100 * ATTACK_PASSES:g}%, so the restoration is not the mask filtering out the attack."
               if a.real_attack_passes else
               f"less than {100 * ATTACK_PASSES:g}%, so the reversal is close to certain by construction: "
               "M(x_A) is close to M(x), whose prediction the mask was learned to keep."))
    else:
        lines.append(f"**On real images ({real_data}):** not built in this book.")
    if a.robust_h_tested is not None:
        lines.append("**Where the reversal is not built in** (the robust-H world, page 06): "
                     + ("no attack flipped enough answers to test it." if not a.robust_h_tested else
                        ("the own masks restore more than random ones" if a.robust_h_holds else
                         "the own masks do not restore more than random ones")
                        + (", and they let less than half of the attack's energy through."
                           if a.robust_h_attack_removed else ", and they let half or more of the attack's energy through.")))
    lines.append("**What it tests.** Table 2 tests whether an image's mask keeps the frequencies its class "
                 "needs and drops those the attack uses; it is a test of the reversal only where the attack "
                 "passes the masks.")
    return "\n\n".join(lines + [evidence("reversal")])


def table3_prose(a: Table3Answer) -> str:
    if not a.built:
        return "Not built in this book. " + evidence("table3")
    return (f"A linear classifier reads an image's class from its single-image mask with {a.accuracy:.1f}% held-out "
            f"accuracy (chance {a.chance:.0f}%, the largest class {a.majority:.0f}%), permutation p = {a.p_value:.3g}"
            + (" (the smallest the test can give)" if a.p_at_floor else "") + ": the masks "
            + ("**carry class information**." if a.carries_class_information else
               "do **not** carry class information by this test.") + "\n\n" + evidence("table3"))


def limits(cfg: Profile, real_cfg: Profile, c: Conclusions | None = None) -> str:
    """What every answer is limited by, from the two configurations (and, given the
    answers ``c``, what the real images' dataset masks cost)."""
    costs = (c.real_mask_costs if c else {}) or {}
    costly = {r: v for r, v in costs.items() if v > ACCURACY_SLACK}
    cost_note = "" if not costly else (
        f" On the real images the dataset masks of {len(costly)} of {len(costs)} networks cost more than "
        f"{held_out_points(ACCURACY_SLACK)} on held-out images, the book's line ({points_span(costly.values())}; "
        "Table 1, page 03). " + (own_images_note(costly, c.real_mask_fit_costs) or
                                 "Their settings were chosen on the cue world, where they cost nothing.")
        + " The mask answers on real images read these masks.")
    return (f"**Limits of every answer.** Real images: {real_cfg.data} at {real_cfg.size} px, networks of width "
            f"{real_cfg.width:g} trained {real_cfg.epochs} epochs (the paper: Imagenette at 128 px, full VGG11, 50 "
            f"epochs); the extra seeds train in a cheaper setting (page 04 says which). Cue world: a synthetic data "
            f"set whose two cues are planted, so its answers test the instrument, not the paper's claim about "
            f"natural images. Profile `{cfg.name}`." + cost_note)


def conclusions_prose(c: Conclusions) -> dict[str, str]:
    """The page's sections, by question."""
    return {"robust_low": robust_low_prose(c.robust_low, c.real_data),
            "masks_read": masks_read_prose(c.masks_read),
            "reversal": reversal_prose(c.reversal, c.real_data),
            "table3": table3_prose(c.table3)}

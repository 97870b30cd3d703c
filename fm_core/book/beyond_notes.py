"""The words of pages 14 (ResNet18 beside VGG11) and 15 (amplitude and phase masks): thin
templates over the pages' verdicts (:func:`fm_core.pages.architectures.judge_architectures`,
:func:`fm_core.pages.amplitude_phase.judge_known_truth`), which hold the thresholds."""
from __future__ import annotations

from typing import Mapping

from fm_core.pages.amplitude_phase import FINDS, NEEDS_DROP_PTS
from fm_core.pages.common import VERDICT_KEY
from fm_core.pages.architectures import FOLLOWS_WITHIN, judge_architectures
from fm_core.pages.cue_conditions import leaning, near_midpoint_words
from fm_core.pages.cue_question import BIAS_SHIFT
from fm_core.profiles import REGIMES


def architecture_prose(results: Mapping[str, Mapping]) -> str:
    """Does the architecture change which cue a network reads, and does the mask still
    agree with behaviour? From :func:`fm_core.pages.architectures.architecture_rows`."""
    (a, ra), (b, rb) = list(results.items())[:2]
    verdict = judge_architectures(results)
    # a network near chance reads nothing: its L-bias is noise, so its regime is left out
    learned, left_out, changed = verdict.compared, verdict.left_out, verdict.read_differently
    if not learned:
        return "Every regime has a network near chance in one architecture: there is nothing to compare."
    per_regime = "; ".join(f"{r} {ra['rows'][r]['L-bias']:.2f} against {rb['rows'][r]['L-bias']:.2f}" for r in learned)
    if left_out:
        per_regime += (f" ({', '.join(left_out)} left out: a network near chance in one architecture, whose "
                       "L-bias means nothing)")
    if verdict.changes_what_is_read:
        first = (f"**The architecture changes what is read.** L-bias, {a} against {b}: {per_regime}. "
                 f"{len(changed)} of {len(learned)} regimes read differently (L-biases {BIAS_SHIFT:g} or more apart: "
                 f"{', '.join(changed)}); "
                 + "; ".join([f"the {r} {b} reads {leaning(rb['rows'][r]['L-bias'])} where {a} reads "
                              f"{leaning(ra['rows'][r]['L-bias'])}" for r in verdict.switched_cue]
                             + [_near_midpoint(r, (a, ra), (b, rb)) for r in verdict.near_midpoint])
                 + ". The cue a network learns depends on the architecture as well as on the training regime.")
    else:
        first = (f"**The architecture does not change what is read.** L-bias, {a} against {b}: {per_regime}; no "
                 f"regime's L-biases lie {BIAS_SHIFT:g} or more apart.")
    second = " ".join(
        f"{name}: Spearman's rho (L-bias, mask L-share) {res['rank correlation']:.2f} over the five networks, mean "
        f"|L-bias - L-share| {res['mean |L-bias - L-share|']:.2f}"
        + (f" ({', '.join(r for r in REGIMES if res['rows'][r]['near chance'])} near chance: counted, but their "
           "masks describe an untrained network)." if any(res['rows'][r]['near chance'] for r in REGIMES) else ".")
        for name, res in results.items())
    good = verdict.masks_follow
    follow = (f" The masks follow behaviour for {' and '.join(good)} (mean gap {FOLLOWS_WITHIN:g} or less)"
              + (f" but not for {', '.join(n for n in results if n not in good)}." if len(good) < len(results) else ".")
              if good else " For neither architecture do the masks follow behaviour closely (mean gaps above "
                           f"{FOLLOWS_WITHIN:g}).")
    return first + "\n\n**Does the mask still agree?** " + second + follow + (
        " Five networks make a coarse rank correlation: one swapped pair moves rho by 0.1 to 0.3.")


def _near_midpoint(regime: str, *named: tuple) -> str:
    """The words for a regime whose network in one architecture reads neither cue clearly."""
    said = []
    for name, res in named:
        bias = res["rows"][regime]["L-bias"]
        side = leaning(bias)
        said.append(f"the {name} network reads {side}" if side != "neither" else
                    f"the {name} network reads neither cue clearly (L-bias {bias:.2f}, {near_midpoint_words()}, "
                    "where another seed could fall on either side)")
    return f"for {regime}, " + " and ".join(said)


def known_truth_prose(truth: Mapping) -> str:
    """The phase-cue world: does the phase mask find the phase-carried cue and the
    amplitude mask not? From :func:`fm_core.pages.amplitude_phase.known_truth` and its verdict."""
    row, beh, verdict = truth["row"], truth["behaviour"], truth[VERDICT_KEY]
    text = (f"The network trained on the phase cue alone is right on {row['clean, %']:.1f}% of held-out images and "
            f"on {beh['h_only, %']:.1f}% of the H-only probes. Ablation first, which learns nothing: removing "
            f"the phase of the H bins leaves {row['phase of H removed, %']:.1f}% of held-out images right, removing "
            f"their amplitude {row['amplitude of H removed, %']:.1f}%, removing the amplitude of every bin "
            f"{row['amplitude of all removed, %']:.1f}%. ")
    if not verdict.reads_phase_cue:
        return text + (f"Removing the phase cue costs less than {NEEDS_DROP_PTS:g} points: this network does not read "
                       "it, so there is nothing for the masks to find and nothing is validated here.")
    text += "The network reads the phase cue, as it must. "
    phase_auc, amp_auc = row["phase: AUROC H"], row["amplitude: AUROC H"]
    text += (f"The masks: the phase mask singles out the H bins with AUROC {phase_auc:.3f}, the amplitude mask with "
             f"{amp_auc:.3f} (a mask finds a cue at {FINDS:g} or more). ")
    kept_l, cost_l = row["phase: mean on L bins"], row["clean, %"] - row["phase of L removed, %"]
    if verdict.phase_mask_keeps_unneeded_l:
        text += (f"The phase mask also keeps {kept_l:.2f} of the L bins on average, whose phase carries no class "
                 f"information (removing it changes held-out accuracy by {-cost_l:+.1f} points): it marks where the loss is sensitive to "
                 "phase, and that includes bins the network reads for their amplitude. ")
    if verdict.validated:
        return text + ("**Validated on known truth:** the phase mask finds the phase-carried cue and the amplitude "
                       "mask does not, as the world was built.")
    wrong = [n for n, ok in (("the phase mask does not find it", verdict.phase_mask_finds_h),
                             ("the amplitude mask finds it too", not verdict.amplitude_mask_finds_h)) if not ok]
    return text + f"**Not validated:** {' and '.join(wrong)}; the part masks cannot be read as intended here."


def regimes_prose(rows: Mapping[str, Mapping]) -> str:
    """Which of the five networks read phase? From :func:`fm_core.pages.amplitude_phase.regimes`."""
    drop = {r: {p: row["clean, %"] - row[f"{p} of all removed, %"] for p in ("phase", "amplitude")}
            for r, row in rows.items()}
    needs_phase = [r for r in rows if drop[r]["phase"] >= NEEDS_DROP_PTS]
    listing = "; ".join(f"{r} {_points(-d['phase'])} and {_points(-d['amplitude'])}" for r, d in drop.items())
    text = (f"Change of held-out accuracy, in points, when the phase and when the amplitude of every bin is "
            f"removed (phase set to the reference, amplitude to the mean): {listing}. ")
    if needs_phase:
        text += (f"{', '.join(needs_phase)} {'needs' if len(needs_phase) == 1 else 'need'} phase (a loss of "
                 f"{NEEDS_DROP_PTS:g} points or more) although every cue of this world is carried by amplitude: "
                 "phase matters to such a network as the spatial arrangement of its features, not as a class signal. ")
    else:
        text += (f"No network needs phase (none loses {NEEDS_DROP_PTS:g} points), as the world was built: every cue "
                 "is carried by amplitude, with a random phase per image. ")
    means = "; ".join(f"{r} {row['phase: mask mean']:.3f} against {row['amplitude: mask mean']:.3f}" for r, row in rows.items())
    # the masks agree with the ablation where the denser mask keeps the part whose removal costs more
    disagree = [r for r, row in rows.items()
                if (row["phase: mask mean"] > row["amplitude: mask mean"]) != (drop[r]["phase"] > drop[r]["amplitude"])]
    text += (f"The learned masks: mean value of the phase mask against the amplitude mask, {means} (a mask's "
             "mean is the share of the spectrum whose part the network keeps to hold its loss). ")
    if not disagree:
        return text + ("For every network the denser mask keeps the part whose removal costs more held-out "
                       "accuracy: here the masks agree with the ablation.")
    return text + (f"For {', '.join(disagree)} the denser mask keeps the part whose removal costs less: a mask "
                   "measures how sensitive the loss is to changing a part, which need not be where the class "
                   "information lies; the ablation above measures use.")


def _points(value: float) -> str:
    """A signed change in points to one decimal, without a '-0.0'."""
    return f"{round(value, 1) + 0.0:+.1f}"

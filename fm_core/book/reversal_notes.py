"""What page 06's Table 2 rests on, in words drawn from its numbers: how much of the
reversal the main world builds in (:func:`construction_note`), and the same table where
the world does not (:func:`robust_world_note`): templates over the page's verdicts
(:func:`fm_core.pages.adversarial_reversal.judge_construction`, ``judge_robust_world``)."""
from __future__ import annotations

from typing import Mapping

from fm_core.pages.adversarial_reversal import judge_construction, judge_robust_world


def construction_note(kept: Mapping[str, float], table2: Mapping[str, float]) -> str:
    """How much of Table 2's reversal is by construction, from the share of the attack's
    energy that the masks let through (:func:`fm_core.pages.adversarial_reversal.attack_energy_kept`) and the
    table's own rows (M(x_A), and the random mask of the same size when it is there)."""
    restored, random = table2["M(x_A)"], table2.get("random mask, same size (x_A)")
    lead = (f"**How much is by construction.** The mask layer is linear, so M(x_A) = M(x) + M(delta): "
            f"the images' own masks let through {100 * kept['mean']:.1f}% of the attack's energy on "
            f"average (median {100 * kept['median']:.1f}%, range {100 * kept['min']:.1f} to "
            f"{100 * kept['max']:.1f}%, {kept['n']} images). ")
    if judge_construction(kept).attack_passes_masks:
        return lead + (f"A good part of the attack passes the masks, so the {restored:.1f}% restored is not "
                       "a consequence of sparsity alone.")
    text = lead + (f"Almost all of the attack falls on frequencies the masks remove, so M(x_A) is close to "
                   f"M(x), whose prediction the mask was learned to keep: the {restored:.1f}% restored is "
                   "close to certain by construction.")
    if random is not None:
        text += (f" Sparsity alone does not do it: a random mask keeping as many frequencies restores "
                 f"{random:.1f}%. So the table tests that a mask keeps the frequencies its class needs, "
                 "not that it undoes an attack it sees.")
    return text


def robust_world_note(robust: Mapping | None, main_kept: Mapping[str, float], main_table2: Mapping[str, float]) -> str:
    """Table 2 where it is not built in (:func:`fm_core.pages.adversarial_reversal.robust_h_reversal`),
    against the main world's, with the verdict drawn from the 95% intervals of the image
    masks' and the random masks' restored shares."""
    if robust is None:
        return "The robust-H control needs the cue world's planted cues; this data set has none."
    tried = ", ".join(f"{attack}: {100 * share:.0f}%" for attack, share in robust["success"].items())
    verdict = judge_robust_world(robust)
    if not verdict.tested:
        return (f"**Where the reversal is not built in.** In the robust-H world no attack tried flips half of the "
                f"vanilla network's right answers ({tried}), so the reversal cannot be tested there.")
    t2, (lo, hi), (rlo, rhi) = robust["table2"], robust["intervals"]["M(x_A)"], \
        robust["intervals"]["random mask, same size (x_A)"]
    energy = robust["energy by cue"]
    here, main = energy[next(k for k in energy if k.startswith("robust"))], energy["main world, eps"]
    text = (f"**Where the reversal is not built in.** The robust-H world (page 10's control) puts the H cue far "
            f"above eps, and its vanilla network reads {verdict.reads} (L-bias "
            f"{robust['L-bias']:.2f}). Share of its right answers that PGD makes wrong: "
            f"{tried}; the weakest attack that flips at least half, {robust['factor']:g} x eps "
            f"({robust['eps_pixel'] * 255:.0f}/255), is used (chosen without any mask). On its {t2['n']} selected "
            f"images the attack leaves {t2['x_A']:.1f}% of clean predictions; the images' own masks restore "
            f"{t2['M(x_A)']:.1f}% (95% interval {lo:.1f} to {hi:.1f}), a random mask of the same size "
            f"{t2['random mask, same size (x_A)']:.1f}% ({rlo:.1f} to {rhi:.1f}); in the main world "
            f"{main_table2['M(x_A)']:.1f}% against {main_table2['random mask, same size (x_A)']:.1f}%. "
            f"What the attack changes: here it puts {100 * here['L']:.0f}% of its energy on the L cue's bins, "
            f"{100 * here['H']:.0f}% on the H cue's and {100 * here['elsewhere']:.0f}% elsewhere (main world: "
            f"{100 * main['L']:.0f}%, {100 * main['H']:.0f}% and {100 * main['elsewhere']:.0f}%), and the masks let "
            f"{100 * robust['energy kept']['mean']:.1f}% of it through (main world {100 * main_kept['mean']:.1f}%). ")
    if verdict.own_mask_restores_more:
        how = ("the attack works mostly on frequencies the network does not need for its clean answer, and the "
               "mask removes them" if verdict.attack_mostly_removed else
               "most of the attack passes the masks, yet they undo it")
        return text + ("The intervals do not overlap: an image's own mask undoes more of the attack than a random "
                       "mask of its size. Here the world does not build that in (the H cue lies far above eps): "
                       f"{how}.")
    if verdict.own_mask_restores_less:
        return text + ("An image's own mask restores less than a random mask of its size (the intervals do not "
                       "overlap): where the attack must act on the frequencies the network reads, the mask, which "
                       "keeps exactly those, lets the attack through.")
    return text + ("The intervals overlap: here an image's own mask restores no more than a random mask of its "
                   "size, so the main world's reversal came from how that world was built.")

"""The truth-free rules by which page 04 chooses the dataset masks' settings, with their
words: the objective (:func:`choose_objective`: stability across mask seeds and validation
halves), the learning rate (:func:`choose_lr`) and the schedule (:func:`judge_schedule`),
each with its tie margin and a tie-break fixed before any mask was learned. Pure functions of
the rows that :mod:`fm_core.pages.dataset_masks` computes (which re-exports them, page 04's
names); shared with the pages that cite the choice, not a page itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fm_core.profiles import Profile
from .common import ACCURACY_SLACK, held_out_points, judge_mask, settle_words


def stability_score(rows: dict) -> float:
    """The worst of the seed and the halves correlations over the networks."""
    return float(min(min(r["seed correlation (min)"], r["halves correlation"]) for r in rows.values()))


# Two objectives whose stability scores lie within resampling noise are a tie. The noise is
# this build's own: each network's seed and halves correlations resample one mask two ways
# (data order, validation half), so how far they part is how far one correlation moves
# (stability_margin). A tie goes to TIE_BREAK_OBJECTIVE, fixed before any mask was learned:
# the unbiased estimate of what the paper's objective holds, the data set's mean loss
TIE_BREAK_OBJECTIVE = "dataset_mean"


def stability_margin(rows: dict) -> float:
    """The largest |seed correlation - halves correlation| over the networks."""
    return float(max(abs(r["seed correlation (min)"] - r["halves correlation"]) for r in rows.values()))


def choose_objective(comparison: dict) -> dict:
    """The objective to use, by the truth-free rule: among the objectives whose masks
    all converged and cost at most ``ACCURACY_SLACK`` held-out points on every network,
    the one with the highest :func:`stability_score`; scores within the larger
    :func:`stability_margin` of the two are a ``tie``, broken for :data:`TIE_BREAK_OBJECTIVE`.
    ``qualified`` lists which passed, ``near`` those tied with the best."""
    qualified = [o for o, rows in comparison.items()
                 if all(r["all converged"] and r["held-out accuracy change, points"] >= -ACCURACY_SLACK
                        for r in rows.values())]
    pool = qualified or list(comparison)
    score = {o: stability_score(comparison[o]) for o in comparison}
    margin = {o: stability_margin(comparison[o]) for o in comparison}
    best = max(pool, key=score.get)
    near = [o for o in pool if score[best] - score[o] <= max(margin[best], margin[o])]
    tie = len(near) > 1
    pick = TIE_BREAK_OBJECTIVE if tie and TIE_BREAK_OBJECTIVE in near else best
    return {"objective": pick, "qualified": qualified, "tie": tie, "near": near,
            "margin": round(max(margin[o] for o in near), 3),
            "stability": {o: round(v, 3) for o, v in score.items()}}


def choice_prose(comparison: dict, profile_objective: str) -> str:
    """The choice in words, from the numbers."""
    choice = choose_objective(comparison)
    best, qualified = choice["objective"], choice["qualified"]
    stability = ", ".join(f"`{o}` {s:.2f}" for o, s in choice["stability"].items())
    failed = [o for o in comparison if o not in qualified]
    text = (f"Worst correlation of a mask with itself (across mask seeds or validation halves, over "
            f"{' and '.join(next(iter(comparison.values())))}): {stability}. ")
    if failed:
        text += (f"{', '.join(f'`{o}`' for o in failed)} did not converge everywhere within the budget or cost more "
                 f"than {held_out_points(ACCURACY_SLACK)}. ")
    if choice["tie"]:
        text += (f"{' and '.join(f'`{o}`' for o in choice['near'])} lie within {choice['margin']:.2f} of each "
                 "other, as far as a network's seed and halves correlations part (the same mask resampled two "
                 f"ways): a **tie**, broken for `{TIE_BREAK_OBJECTIVE}` (the unbiased estimate of the mean loss, "
                 f"fixed in advance). The rule picks **`{best}`**.")
    else:
        text += f"The rule picks **`{best}`**" + ("." if qualified else ", though no objective met every criterion.")
    text += (" It is this profile's setting." if best == profile_objective else
             f" This profile uses `{profile_objective}` instead: the choice above disagrees with it.")
    return text


def _words(words: str, template: str) -> str:
    return template.format(words) if words else ""


def lr_sweep_prose(sweep: dict, chosen_lr: float, window: int = 25) -> str:
    """What the sweep says about the profile's learning rate, from the numbers."""
    parts = []
    for regime, s in sweep.items():
        parts.append(f"{regime}: " + ", ".join(f"{st} steps at {lr:g}" + _words(settle_words(c, st, s.get("budget")), " ({})")
                                               for lr, st, c in zip(s["lr"], s["steps"], s["converged"])))
    first = next(iter(sweep.values()))
    text = (f"Budget {first['budget']:,} steps per rate"
            + (" (the one-cycle schedule runs over it). " if first.get("schedule") == "one_cycle" else ". ")
            + "Steps to converge, " + "; ".join(parts) + ". ")
    best, worst, soonest = choose_lr(sweep, window)
    text += (f"The slower network converges soonest at {soonest} steps; the smallest rate within one convergence "
             f"window ({window} steps, the resolution of the measurement) of that is {best:g} ({worst[best]} steps); "
             + ("this profile uses it." if np.isclose(best, chosen_lr) else
                f"this profile uses {chosen_lr:g} ({worst.get(chosen_lr, float('nan'))} steps)."))
    return text


def choose_lr(sweep: dict, window: int) -> tuple[float, dict, int]:
    """The learning rate by the truth-free rule: the smallest rate whose slower network
    converges within one ``window`` of the soonest any rate manages (steps are counted in
    windows, so rates closer than that are not told apart; among them the smallest
    jitters least). Returns (rate, worst steps per rate, the soonest)."""
    worst = {lr: max(s["steps"][s["lr"].index(lr)] for s in sweep.values()) for lr in next(iter(sweep.values()))["lr"]}
    soonest = min(worst.values())
    return min(lr for lr, st in worst.items() if st <= soonest + window), worst, soonest


# The schedule rule's tie-break, fixed before any mask was learned: the paper's schedule.
TIE_BREAK_SCHEDULE = "one_cycle"


@dataclass(frozen=True)
class ScheduleChoice:
    """The truth-free schedule rule's outcome. ``tie``: the leaders converged equally often
    and their total steps differ by no more than ``margin_steps``, one convergence window
    per network (steps are counted in windows, so each network's count is known to within
    one, as for the learning rate in :func:`choose_lr`); the pick is then ``TIE_BREAK_SCHEDULE``."""
    pick: str
    tie: bool
    margin_steps: int
    converged: dict
    steps: dict
    tie_break: str = TIE_BREAK_SCHEDULE


def judge_schedule(comparison: dict, window: int) -> ScheduleChoice:
    """The schedule by the truth-free rule: the one under which the most networks' masks
    converge within the budget; among equals, the fewer steps in all, unless the difference
    is within one ``window`` per network: a tie, broken by :data:`TIE_BREAK_SCHEDULE`."""
    # converged as every table counts it: settled before the budget ran out (judge_mask)
    converged = {s: sum(not judge_mask(r["converged"], r["steps"], r.get("budget"), None).at_budget
                        for r in rows.values()) for s, rows in comparison.items()}
    steps = {s: sum(r["steps"] for r in rows.values()) for s, rows in comparison.items()}
    margin = int(window) * max(len(rows) for rows in comparison.values())
    most = max(converged.values())
    leaders = [s for s in comparison if converged[s] == most]
    fewest = min(steps[s] for s in leaders)
    near = [s for s in leaders if steps[s] <= fewest + margin]
    tie = len(near) > 1
    pick = TIE_BREAK_SCHEDULE if tie and TIE_BREAK_SCHEDULE in near else min(near, key=steps.get)
    return ScheduleChoice(pick=pick, tie=tie, margin_steps=margin, converged=converged, steps=steps)


def choose_schedule(comparison: dict, window: int = 0) -> str:
    """The pick of :func:`judge_schedule` (``window`` 0: no tie margin)."""
    return judge_schedule(comparison, window).pick


def settled_at_the_end(rows: dict, cfg: Profile) -> list[str]:
    """The networks whose mask was declared settled only in the last windows of the
    budget: under a one-cycle schedule the rate has fallen near zero there, so such a mask
    settled because the schedule ended, not because its objective had."""
    if cfg.dmask_max_steps is None or cfg.dmask_window is None:
        return []
    end = cfg.dmask_max_steps - cfg.dmask_patience * cfg.dmask_window
    return [name for name, row in rows.items() if row["converged"] and row["steps"] >= end]


def schedule_prose(comparison: dict, cfg: Profile) -> str:
    """The schedule choice in words, from the numbers."""
    def named(schedule):
        return schedule.replace("_", "-")

    choice = judge_schedule(comparison, cfg.dmask_window or 0)
    parts = []
    for schedule, rows in comparison.items():
        stuck = [r for r, row in rows.items() if not row["converged"]]
        late = [r for r, row in rows.items()  # settled, but only as the budget ran out: not converged
                if row["converged"] and settle_words(True, row["steps"], row.get("budget", cfg.dmask_max_steps))]
        worst = min(row["held-out accuracy change, points"] for row in rows.values())
        parts.append(f"under the {named(schedule)} schedule {len(rows) - len(stuck) - len(late)} of {len(rows)} "
                     "masks converge"
                     + (f" ({', '.join(stuck)} still moving at the budget)" if stuck else "")
                     + (f" ({', '.join(late)} settled only at the budget's last window)" if late else "")
                     + f", {choice.steps[schedule]:,} steps in all, "
                     + (f"the largest held-out accuracy cost {-worst:.1f} points" if worst < 0
                        else "no held-out accuracy lost"))
    best = choice.pick
    margin = (f", totals within {choice.margin_steps:,} steps, one convergence window per network, being a tie"
              if choice.margin_steps else "")
    text = (f"Over the paper's five networks, {'; '.join(parts)}. The rule (most masks settled, those that "
            f"settled at the budget's last window counted, then fewest steps{margin}) ")
    if choice.tie:
        text += (f"finds a **tie** ({' against '.join(f'{choice.steps[s]:,}' for s in comparison)} steps); its "
                 f"tie-break, fixed before any mask was learned (the paper's schedule), picks **{named(best)}**")
    else:
        text += f"picks **{named(best)}**"
    text += (", this profile's schedule." if best == cfg.dmask_schedule else
             f"; this profile uses {named(cfg.dmask_schedule)} instead, against the rule.")
    late = settled_at_the_end(comparison.get("one_cycle", {}), cfg)
    if late:
        text += (f" A caveat: under one-cycle the rate falls to near zero at the end of the budget, and "
                 f"{len(late)} mask(s) ({', '.join(late)}) settled only in its last {cfg.dmask_patience} windows: "
                 f"they settled because the schedule ended; read them as the best mask within the budget, not as "
                 f"a fixed point of the objective.")
        unsettled_elsewhere = {r for other, rows in comparison.items() if other != "one_cycle"
                               for r, row in rows.items() if not row["converged"]}
        if unsettled_elsewhere and unsettled_elsewhere <= set(late):
            text += (" The networks whose masks the other schedule left moving are among these, so one-cycle's "
                     "lead in convergence rests on its rate running out: within this budget, neither schedule "
                     "brings those masks to rest by the objective alone.")
    return text

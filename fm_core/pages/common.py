"""Shared by several pages: the paper's networks and dataset masks through the store, what
"converged" means on a page (:func:`judge_mask`, :func:`mask_status`: settled before its
step budget, and costing at most :data:`ACCURACY_SLACK` held-out points), the line that
says whether a page's masks converged, and what verdicts share: the key under
which a page stores its verdict beside its numbers (:data:`VERDICT_KEY`) and the seed
margin of a verdict (it stands when its number lies :data:`VERDICT_MARGIN_SDS` seed SDs
beyond its line; the spread itself is measured by :mod:`fm_core.book.seed_spread`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from fm_core.profiles import REGIMES, Profile
from fm_core.store import pipeline
from fm_core.store.pipeline import get_dataset, get_dataset_mask, get_network


# A page's ``judge_*`` verdict (a frozen dataclass) is stored as a dict under this key beside
# the numbers it judges, so that it reaches the headline file, expected/ and ``fm spread``
VERDICT_KEY = "verdict"


# A mask may cost at most this much held-out accuracy (points) and still count as keeping the
# network's performance: page 04's line (:func:`fm_core.pages.dataset_masks.choose_objective`,
# which imports it from here; the book's line, not measured). Every table that says whether a
# mask converged holds the mask to it as well (:func:`judge_mask`).
ACCURACY_SLACK = 1.0


def held_out_points(value: float) -> str:
    """``value`` held-out point(s), in words: "1 held-out point", "2.5 held-out points"."""
    return f"{value:g} held-out point" + ("" if value == 1 else "s")

# The labels of :func:`mask_status`
CONVERGED, AT_BUDGET = "converged", "at budget"


@dataclass(frozen=True)
class MaskStatus:
    """Whether a dataset mask counts as **converged** where a page shows it (:func:`judge_mask`).

    Its *cost* is the unmasked minus the masked accuracy on held-out images (the score half
    of the validation set, which the mask was not learned on), in percentage points: positive
    when the mask loses accuracy."""
    settled: bool               # its stopping rule fired (``MaskResult.converged``)
    at_budget: bool             # it did not settle, or settled only at its budget's last window (steps >= budget)
    cost_points: float | None   # held-out accuracy cost, points (None: not measured)
    costly: bool                # the cost exceeds ``slack``
    slack: float = ACCURACY_SLACK

    @property
    def converged(self) -> bool:
        """Settled before its budget ran out, and costing at most ``slack`` held-out points."""
        return not self.at_budget and not self.costly

    @property
    def label(self) -> str:
        """"converged", "at budget", "costs N pts" or "at budget; costs N pts"."""
        # one decimal, or two where one would round a cost over the line down onto it
        digits = 1 if round(self.cost_points or 0.0, 1) > self.slack else 2
        flags = ([AT_BUDGET] if self.at_budget else []) + \
            ([f"costs {self.cost_points:.{digits}f} pts"] if self.costly else [])
        return "; ".join(flags) or CONVERGED


def judge_mask(converged: bool, steps: int | None, budget: int | None, cost_points: float | None,
               slack: float = ACCURACY_SLACK) -> MaskStatus:
    """A mask's status from what a row carries: whether its stopping rule fired
    (``converged``), the ``steps`` it took, its step ``budget`` (``MaskResult.settings
    ["max_steps"]``; None: unknown) and its held-out accuracy cost in points (unmasked minus
    masked; None or NaN: not measured). The rule can fire at the budget's last window, so a
    mask with ``steps >= budget`` is **at budget** even when it settled: its steps ran out
    with it (under one-cycle its rate had fallen to nearly zero). A cost above ``slack``
    (:data:`ACCURACY_SLACK`, page 04's line) is flagged with its number."""
    at_budget = not converged or (budget is not None and steps is not None and int(steps) >= int(budget))
    cost = None if cost_points is None or cost_points != cost_points else float(cost_points)
    return MaskStatus(settled=bool(converged), at_budget=bool(at_budget), cost_points=cost,
                      costly=cost is not None and cost > slack, slack=slack)


def mask_status(converged: bool, steps: int | None, budget: int | None, cost_points: float | None) -> str:
    """The label a table shows for a mask (:func:`judge_mask`): "converged", "at budget",
    "costs N pts" or "at budget; costs N pts"."""
    return judge_mask(converged, steps, budget, cost_points).label


def settle_words(converged: bool, steps: int | None, budget: int | None) -> str:
    """A mask's convergence for prose (:func:`judge_mask`, its cost aside): "" when it
    converged before its budget ran out, else "not converged" (still moving then) or
    "settled only at the budget's last window" (its rule fired as the steps ran out)."""
    if not converged:
        return "not converged"
    return "settled only at the budget's last window" if judge_mask(True, steps, budget, None).at_budget else ""


def held_out_cost(unmasked_percent: float | None, masked_percent: float | None) -> float | None:
    """The held-out accuracy cost of a mask, in points: unmasked minus masked accuracy (%);
    None when either is missing."""
    if unmasked_percent is None or masked_percent is None:
        return None
    return float(unmasked_percent) - float(masked_percent)


def budget_of(result) -> int | None:
    """A :class:`~fm_core.masks.result.MaskResult`'s step budget (``settings["max_steps"]``:
    the profile's ``dmask_max_steps``, or its epochs in steps); None when it records none."""
    budget = result.settings.get("max_steps")
    return None if budget is None else int(budget)


def result_status(result, cost_points: float | None = None, row: int = 0) -> MaskStatus:
    """:func:`judge_mask` of row ``row`` of a :class:`~fm_core.masks.result.MaskResult`
    (its budget from its settings, :func:`budget_of`; without one, only whether it settled counts)."""
    converged = bool(result.converged[row]) if len(result.converged) > row else False
    return judge_mask(converged, int(result.steps[row]), budget_of(result), cost_points)


def status_counts(statuses: Iterable[MaskStatus]) -> str:
    """A short cell for a set of masks (a lambda path): "k/n converged", then how many stopped
    at the budget and how many cost more than the line."""
    statuses = list(statuses)
    done = sum(s.converged for s in statuses)
    late, costly = sum(s.at_budget for s in statuses), sum(s.costly for s in statuses)
    slack = statuses[0].slack if statuses else ACCURACY_SLACK
    return (f"{done}/{len(statuses)} {CONVERGED}" + (f"; {late} {AT_BUDGET}" if late else "")
            + (f"; {costly} cost > {slack:g} pts" if costly else ""))


def networks(cfg: Profile, regimes=REGIMES, progress: bool = True) -> dict:
    return {r: get_network(cfg, r, progress) for r in regimes}


def dataset_masks(cfg: Profile, regimes=REGIMES, progress: bool = True) -> dict:
    return {r: get_dataset_mask(cfg, r, progress=progress) for r in regimes}


def class_masks(cfg: Profile, regime: str = "vanilla", progress: bool = True) -> dict:
    """``{"class c": MaskResult}``: the class masks as results (their convergence too)."""
    return {f"class {c}": get_dataset_mask(cfg, regime, c, progress)
            for c in range(get_dataset(cfg).num_classes)}


def convergence_note(cfg: Profile, regimes=REGIMES, classes: bool = True, progress: bool = True) -> str:
    """One line for a page: whether every dataset mask (and the vanilla class masks) it
    uses converged before its budget ran out, naming those that did not (:func:`unconverged_note`)."""
    named = {f"{r} dataset mask": m for r, m in dataset_masks(cfg, regimes, progress).items()}
    if classes:
        named.update({f"vanilla {k} mask": m for k, m in class_masks(cfg, progress=progress).items()})
    return unconverged_note(named) or (f"All {len(named)} dataset and class masks on this page converged before "
                                       f"their budget ran out (steps: {min(int(m.steps[0]) for m in named.values())} "
                                       f"to {max(int(m.steps[0]) for m in named.values())}).")


def saved(cfg: Profile, name: str, values):
    """``values``, once stored as the page's result ``name`` (:func:`fm_core.store.pipeline.save_result`)."""
    pipeline.save_result(cfg, name, values)
    return values


def points_span(values) -> str:
    """"a to b" (one decimal) over ``values``, or "a" when they round alike."""
    values = [float(v) for v in values]
    return " to ".join(dict.fromkeys(f"{v:.1f}" for v in (min(values), max(values))))


def own_images_note(costly: dict, fit_costs: dict | None) -> str:
    """What the ``costly`` masks (name -> held-out cost) cost on the images each was learned
    on (``fit_costs``: name -> points on the fit half), where the paper measures its Table 1:
    it learns its dataset masks on the validation set and reports accuracy there (Karantzas
    et al. 2022, Sec. 2.1-2.2). "" when not measured."""
    fit = {n: fit_costs[n] for n in costly if fit_costs and fit_costs.get(n) is not None}
    if not fit:
        return ""
    text = (f"On the images each was learned on (the fit half: where the paper measures, as it learns its "
            f"masks on the validation set and reports accuracy there) the same masks cost {points_span(fit.values())} "
            "points")
    if all(v <= ACCURACY_SLACK for v in fit.values()):
        return text + ": they fit their own images and lose on new ones, a cost the paper's Table 1 cannot show."
    return text + ": they cost accuracy on their own images too."


def masks_note(results: dict, costs: dict | None = None, fit_costs: dict | None = None) -> str:
    """One line on a page's dataset masks (``{name: MaskResult}``): those not converged
    (:func:`unconverged_note`), then those whose held-out accuracy cost (``costs``: name ->
    points, unmasked minus masked on the score half) exceeds :data:`ACCURACY_SLACK`, with
    what those cost on their own images (``fit_costs``, :func:`own_images_note`);
    "All N ... converged" only when neither applies."""
    costly = {n: c for n, c in (costs or {}).items() if judge_mask(True, None, None, c).costly}
    parts = [unconverged_note(results)] if unconverged_note(results) else []
    if costly:
        parts.append(f"**Costly:** {len(costly)} of the {len(results)} masks settled but cost more than "
                     f"{held_out_points(ACCURACY_SLACK)}, the book's line: "
                     + "; ".join(f"{n} {c:.1f} points" for n, c in costly.items()) + ".")
        if own_images_note(costly, fit_costs):
            parts.append(own_images_note(costly, fit_costs))
    return " ".join(parts) or f"All {len(results)} dataset masks converged, each costing at most " \
                              f"{held_out_points(ACCURACY_SLACK)}."


def unconverged_note(results: dict) -> str:
    """A warning line naming the masks (``{name: MaskResult}``) that did not converge before
    their budget ran out (:func:`judge_mask`): those still moving when it did, and those
    whose rule fired only at its last window; "" when all converged."""
    moving = [name for name, r in results.items() if not r.all_converged]
    late = [name for name, r in results.items() if r.all_converged
            and any(result_status(r, row=i).at_budget for i in range(len(r.steps)))]
    if not moving and not late:
        return ""
    parts = ([f"{'; '.join(moving)} (still moving when the budget ran out)"] if moving else []) + \
        ([f"{'; '.join(late)} (settled only at the budget's last window, as the steps ran out)"] if late else [])
    return f"**Not converged within the budget:** {'; '.join(parts)}. Read these masks with care."


# A verdict stands when its number lies this many seed SDs beyond the verdict's line
# (about 95% of draws on the same side); nearer, another seed could give the other verdict.
VERDICT_MARGIN_SDS = 2.0


def side(value: float, line: float, sd: float | None = None, margin_sds: float = VERDICT_MARGIN_SDS) -> int:
    """+1 when ``value`` is at or above ``line``, -1 when below, each only if it lies
    ``margin_sds`` x ``sd`` beyond it; 0 when it is nearer (the seed decides). Without a
    measured ``sd``, the plain comparison."""
    margin = 0.0 if sd is None or sd != sd else margin_sds * float(sd)
    if value - margin >= line:
        return 1
    if value + margin < line:
        return -1
    return 0


def sd_of(spread: dict | None, key: str) -> float | None:
    """A headline number's SD over seeds from a page's ``spread`` (``{"sd": {key: SD}}``,
    :meth:`fm_core.book.report.Page.spread`); None when it was not measured."""
    return (spread or {}).get("sd", {}).get(key)


def difference_sd(spread: dict | None, a: str, b: str) -> float | None:
    """The seed SD of (key a - key b), treating the two as independent draws; None when
    either was not measured."""
    sd_a, sd_b = sd_of(spread, a), sd_of(spread, b)
    return None if sd_a is None or sd_b is None else math.hypot(sd_a, sd_b)


# How a setting a page changes reads in a label (the profile's field -> its words)
SETTING_WORDS = {"n_train": "{:,} images", "n_val": "{:,} validation images", "epochs": "{} epochs",
                 "dmask_max_steps": "{} mask steps"}


def seeds_setting(seeds, extra: dict | None = None) -> str:
    """The setting a spread over ``seeds`` was measured at, as a page labels it: "seeds 31,
    1031, 2031 at the profile's own settings", or, when the extra seeds train cheaper
    (``extra``: the fields they change), "seeds 31, 1031, 2031; extra seeds: 1,500 images,
    5 epochs". Two pages whose spreads carry different labels measured different things."""
    seeds = list(seeds or [])
    named = (f"seed{'s' if len(seeds) > 1 else ''} " + ", ".join(str(s) for s in seeds)) if seeds \
        else "the seeds of fm spread"
    if not extra:
        return f"{named} at the profile's own settings"
    order = list(SETTING_WORDS)  # a stored dict comes back in any order: the label's is fixed
    words = [SETTING_WORDS.get(k, f"{k} {{}}").format(v)
             for k, v in sorted(extra.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))]
    return f"{named}; extra seeds: {', '.join(words)}"

"""Shared by several pages: the paper's networks and dataset masks through the store, the
line that says whether a page's masks converged, and what verdicts share: the key under
which a page stores its verdict beside its numbers (:data:`VERDICT_KEY`) and the seed
margin of a verdict (it stands when its number lies :data:`VERDICT_MARGIN_SDS` seed SDs
beyond its line; the spread itself is measured by :mod:`fm_core.book.seed_spread`).
"""
from __future__ import annotations

import math

from fm_core.profiles import REGIMES, Profile
from fm_core.store import pipeline
from fm_core.store.pipeline import get_dataset, get_dataset_mask, get_network


# A page's ``judge_*`` verdict (a frozen dataclass) is stored as a dict under this key beside
# the numbers it judges, so that it reaches the headline file, expected/ and ``fm spread``
VERDICT_KEY = "verdict"


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
    uses converged within its budget, naming those that did not."""
    named = {f"{r} dataset mask": m for r, m in dataset_masks(cfg, regimes, progress).items()}
    if classes:
        named.update({f"vanilla {k} mask": m for k, m in class_masks(cfg, progress=progress).items()})
    return unconverged_note(named) or (f"All {len(named)} dataset and class masks on this page converged within "
                                       f"their budget (steps: {min(int(m.steps[0]) for m in named.values())} to "
                                       f"{max(int(m.steps[0]) for m in named.values())}).")


def saved(cfg: Profile, name: str, values):
    """``values``, once stored as the page's result ``name`` (:func:`fm_core.store.pipeline.save_result`)."""
    pipeline.save_result(cfg, name, values)
    return values


def unconverged_note(results: dict) -> str:
    """A warning line naming the masks (``{name: MaskResult}``) that did not converge,
    or "" when all did."""
    names = [name for name, r in results.items() if not r.all_converged]
    if not names:
        return ""
    return (f"**Not converged within the budget:** {'; '.join(names)}. These masks were still moving when the "
            "budget ran out; read them with care.")


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

"""How far the headline numbers move when only the seed changes, and the tolerances of
``expected/<profile>.json`` that follow from it (the builds at other seeds are
:mod:`fm_core.book.seeds`'s).

A build on another machine trains through other float roundings, and a network trained
through other roundings is, for everything downstream, a network from another draw: its
numbers move about as far as with another seed. So the spread over seeds is what a
reader on other hardware should expect, and what the expected file allows.

``fm spread --profile quick`` (:func:`fm_core.book.seeds.measure_spread`) builds the book at each extra seed of :data:`SPREAD_SEEDS`
(every page, the profile's own settings, only the seed changed), each in its own store
``runs/<profile>/seeds/<seed>/`` so that no seed's results overwrite another's, and
writes ``runs/<profile>/seed_spread.json``: every headline number per seed. ``fm
expected`` then sets each number's tolerance to :data:`SPREAD_FACTOR` standard deviations
over the seeds (at least the number's :func:`resolution`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fm_core.paths import DATA_NAMES
from fm_core.pages.common import VERDICT_KEY
from fm_core.store import runs_dir

# The profile's own seed first; two more (a spread needs three draws at least).
SPREAD_SEEDS = {"smoke": (31, 1031), "quick": (31, 1031, 2031)}
# Tolerance = this many standard deviations over the seeds: a value from another draw
# falls inside with high probability even though three seeds estimate the SD roughly.
SPREAD_FACTOR = 3.0


def spread_path(profile_name: str) -> Path:
    return runs_dir(profile_name) / "seed_spread.json"


def seed_store(profile_name: str, seed: int) -> Path:
    return runs_dir(profile_name) / "seeds" / str(seed)


# What scale a headline number is on, by its name: counts and costs (steps, passes,
# seconds), losses (loss changes, areas under loss curves), percentages (accuracies,
# agreements), or else a 0-1 quantity (shares, biases, AUROCs, correlations, areas).
COUNT_ENDINGS = ("steps", "passes", "seconds", ".k", ".n", "n_folds", "n_masks", "n_permutations", "agreements",
                 "agreements_half_rule", "networks")
PERCENT_PREFIXES = ("table1.", "table2.", "table3.", "cue_reliance.", "figure")


def scale(key: str) -> str:
    """"count", "loss", "percent" or "unit" (see :data:`COUNT_ENDINGS`); a page's verdict
    (a yes/no as 1/0, a side as +1/0/-1, a gap) is on the unit scale."""
    if VERDICT_KEY in key.split("."):
        return "unit"
    first, _, rest = key.partition(".")  # real images' keys start with the data set's name
    key = rest if first in DATA_NAMES and rest else key
    if key.endswith(COUNT_ENDINGS):
        return "count"
    if "loss" in key:
        return "loss"
    if "%" in key or "pct" in key or "points" in key or key.startswith(PERCENT_PREFIXES) or ".table2." in key:
        return "percent"
    return "unit"


def resolution(key: str) -> float:
    """The smallest tolerance a number gets: what its printed digits resolve (0.01 on
    a 0-1 scale, 0.1 points for a percentage, 1 for a count), so a number that does not
    move with the seed is still allowed its rounding."""
    return {"count": 1.0, "loss": 0.01, "percent": 0.1, "unit": 0.01}[scale(key)]


def standard_deviations(spread: dict) -> dict[str, float]:
    """Per headline key: the sample SD over the seeds (0 with one seed)."""
    return {key: round(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, 4)
            for key, values in spread["values"].items()}


def tolerances_from_spread(spread: dict) -> dict[str, float]:
    """Per headline key: :data:`SPREAD_FACTOR` sample SDs over the seeds, rounded up to
    the key's resolution, never below it."""
    out = {}
    for key, values in spread["values"].items():
        res = resolution(key)
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        out[key] = max(res, math.ceil(SPREAD_FACTOR * sd / res - 1e-9) * res)  # 1e-9: float noise
    return {k: round(v, 4) for k, v in out.items()}


def spread_summary(spread: dict) -> dict:
    """For README: how many numbers, over which seeds, and how far the 0-1 numbers and
    the percentages move (median and largest SD); the three that move most for their
    scale. Counts, costs, losses and the pages' verdicts (decisions drawn from the other
    numbers) are left out of the summary (not of the tolerances)."""
    sds = {k: float(np.std(v, ddof=1)) for k, v in spread["values"].items() if VERDICT_KEY not in k.split(".")}
    by_scale = {name: [sd for k, sd in sds.items() if scale(k) == name] for name in ("unit", "percent")}
    unit_like = {k: sd for k, sd in sds.items() if scale(k) in ("unit", "percent")}
    widest = sorted(unit_like, key=lambda k: unit_like[k] / resolution(k), reverse=True)[:3]
    out = {"n": len(unit_like), "seeds": spread["seeds"], "factor": SPREAD_FACTOR,
           "widest": [(k, round(sds[k], 4)) for k in widest]}
    for name, values in by_scale.items():
        out[f"{name} median sd"] = round(float(np.median(values)), 4) if values else None
        out[f"{name} max sd"] = round(max(values), 4) if values else None
    return out
